// SPDX-License-Identifier: Apache-2.0
/*
 * The TCP sockets of a network namespace, from the kernel itself: one
 * SOCK_DIAG_BY_FAMILY dump (inet_diag; states = LISTEN for the listeners,
 * the connected states for a strict switch) per address family, sent on a
 * NETLINK_SOCK_DIAG socket, parsed with libnl. sock_diag answers
 * only about sockets of the namespace its netlink socket was created in,
 * so that socket is made inside the namespace (setns there and back) and
 * handed to libnl with nl_socket_set_fd(); nl_connect() would create it in
 * the daemon's own namespace.
 *
 * Every field reported comes from the kernel's reply, nothing from /proc:
 * the socket's owner uid (sk_uid), inode, cookie, and the cgroup v2 id the
 * socket was created in (INET_DIAG_CGROUP_ID, which the kernel adds to
 * every inet socket it reports since 5.7).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "userspace/datapath/datapath.h"

struct dump {
	sockdiag_cb cb;
	void *arg;
	struct nt_err *err;
	uint32_t states;	/* 1 << TCP_LISTEN, ... */
	size_t max;		/* sockets a dump may report */
	int family;		/* the one being dumped */
	size_t count;		/* sockets reported, all families */
	bool done;		/* NLMSG_DONE seen: the dump is whole */
	int ret;		/* first error, or the callback's non-zero */
};

/* libnl speaks NLE_* codes; the daemon speaks negative errno. */
static int nl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_NOMEM:		return -ENOMEM;
	case NLE_PERM:		return -EPERM;
	case NLE_NOACCESS:	return -EACCES;
	case NLE_OBJ_NOTFOUND:	return -ENOENT;
	case NLE_OPNOTSUPP:	return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:	return -EAFNOSUPPORT;
	case NLE_INVAL:		return -EINVAL;
	case NLE_AGAIN:		return -EAGAIN;
	case NLE_DUMP_INTR:	return -EINTR;
	default:		return -EIO;
	}
}

static const struct nla_policy diag_policy[INET_DIAG_MAX + 1] = {
	[INET_DIAG_CGROUP_ID] = { .type = NLA_U64 },
};

static void diag_addr(int family, const __be32 *a, __be16 port,
		      struct nt_addr *out)
{
	if (family == AF_INET) {
		nt_addr__set_v4(out, a[0], ntohs(port));
		return;
	}
	memcpy(out->addr, a, sizeof(out->addr));
	out->port = ntohs(port);
	out->family = family;
}

/* One inet_diag_msg and its attributes into @l. */
static int parse_socket(struct nlmsghdr *nlh, struct sockdiag_socket *l)
{
	struct nlattr *tb[INET_DIAG_MAX + 1];
	const struct inet_diag_msg *m;

	if (!nlmsg_valid_hdr(nlh, sizeof(*m)))
		return -EBADMSG;
	m = nlmsg_data(nlh);
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return -EBADMSG;
	if (nlmsg_parse(nlh, sizeof(*m), tb, INET_DIAG_MAX, diag_policy) < 0)
		return -EBADMSG;
	memset(l, 0, sizeof(*l));
	diag_addr(m->idiag_family, m->id.idiag_src, m->id.idiag_sport, &l->local);
	diag_addr(m->idiag_family, m->id.idiag_dst, m->id.idiag_dport, &l->remote);
	l->state = m->idiag_state;
	l->id = m->id;
	l->uid = m->idiag_uid;
	l->inode = m->idiag_inode;
	/* sock_diag_save_cookie(): low half first */
	l->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
	if (tb[INET_DIAG_CGROUP_ID])
		l->cgroup_id = nla_get_u64(tb[INET_DIAG_CGROUP_ID]);
	return 0;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct sockdiag_socket l;
	struct dump *d = arg;
	int ret;

	/* Only the kernel (port 0) answers a sock_diag request. */
	if (nlmsg_get_src(msg)->nl_pid != 0 ||
	    nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return NL_SKIP;
	ret = parse_socket(nlh, &l);
	if (ret) {
		d->ret = nt_err_set(d->err, ret, "malformed sock_diag reply");
		return NL_STOP;
	}
	if (++d->count > d->max) {
		d->ret = nt_err_set(d->err, -E2BIG, "more than %zu sockets",
				    d->max);
		return NL_STOP;
	}
	ret = d->cb(&l, d->arg);
	if (ret) {
		d->ret = ret;
		return NL_STOP;
	}
	return NL_OK;
}

/* NLMSG_DONE carries the dump's final status: negative when the kernel
 * had to stop part-way. */
static int on_finish(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct dump *d = arg;
	int status = 0;

	if (nlmsg_datalen(nlh) >= (int)sizeof(status))
		memcpy(&status, nlmsg_data(nlh), sizeof(status));
	if (status < 0)
		d->ret = nt_err_set(d->err, status, "sock_diag dump stopped: %s",
				    strerror(-status));
	else
		d->done = true;
	return NL_STOP;
}

int sockdiag__socket(int netns_fd)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	int fd, ret;

	fd = netns__socket(netns_fd, AF_NETLINK, SOCK_RAW,
				    NETLINK_SOCK_DIAG);
	if (fd < 0)
		return fd;
	/* Bound now (the kernel picks the port), so the address libnl
	 * records is the real one. */
	if (bind(fd, (struct sockaddr *)&local, sizeof(local))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = sock_diag__set_timeout(fd);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* The netlink socket, created inside @netns_fd, bound and given to libnl. */
static int open_diag(int netns_fd, struct nl_sock **out, struct nt_err *err)
{
	struct nl_sock *sk;
	int fd, ret;

	sk = nl_socket_alloc();
	if (!sk)
		return nt_err_set(err, -ENOMEM, "out of memory");
	fd = sockdiag__socket(netns_fd);
	if (fd < 0) {
		ret = nt_err_set(err, fd, "failed to open a sock_diag socket in the netns: %s",
				 strerror(-fd));
		goto free_sk;
	}
	ret = nl_socket_set_fd(sk, NETLINK_SOCK_DIAG, fd);
	if (ret < 0) {
		ret = nt_err_set(err, nl_errno(ret), "libnl refused the sock_diag socket: %s",
				 nl_geterror(ret));
		goto close_fd;
	}
	/* A dump is answered by its data and NLMSG_DONE, never an ACK. */
	nl_socket_disable_auto_ack(sk);
	*out = sk;
	return 0;
close_fd:
	close(fd);
free_sk:
	nl_socket_free(sk);
	return ret;
}

static int send_dump(struct nl_sock *sk, int family, uint32_t states,
		     struct nt_err *err)
{
	struct inet_diag_req_v2 req = {
		.sdiag_family = family,
		.sdiag_protocol = IPPROTO_TCP,
		.idiag_states = states,
	};
	struct nl_msg *msg;
	int ret;

	msg = nlmsg_alloc_simple(SOCK_DIAG_BY_FAMILY, NLM_F_DUMP);
	if (!msg)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ret = nlmsg_append(msg, &req, sizeof(req), NLMSG_ALIGNTO);
	if (ret >= 0)
		ret = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (ret < 0)
		return nt_err_set(err, nl_errno(ret), "failed to send the sock_diag request: %s",
				  nl_geterror(ret));
	return 0;
}

static int dump_family(struct nl_sock *sk, struct dump *d)
{
	int ret;

	d->done = false;
	ret = send_dump(sk, d->family, d->states, d->err);
	if (ret)
		return ret;
	ret = nl_recvmsgs_default(sk);
	if (d->ret)
		return d->ret;
	/* No IPv6 in this kernel: no socket of it exists. */
	if (ret < 0 && d->family == AF_INET6 &&
	    (nl_errno(ret) == -ENOENT || nl_errno(ret) == -EAFNOSUPPORT))
		return 0;
	if (ret < 0)
		return nt_err_set(d->err, nl_errno(ret), "sock_diag dump failed: %s%s",
				  nl_geterror(ret), nl_errno(ret) == -ENOENT ?
				  " (kernel without inet_diag, CONFIG_INET_DIAG?)" : "");
	/* libnl ends quietly on a receive timeout: only DONE proves the list
	 * is whole, and a partial list must never be taken for the truth. */
	if (!d->done)
		return nt_err_set(d->err, -ETIMEDOUT,
				  "sock_diag dump incomplete (no answer within %d s)",
				  SOCK_DIAG_TIMEOUT_S);
	return 0;
}

static int run_dump(int netns_fd, struct dump *d)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct nt_err *err = d->err;
	struct nl_sock *sk = NULL;
	size_t i;
	int ret;

	ret = open_diag(netns_fd, &sk, err);
	if (ret)
		return ret;
	ret = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_valid, d);
	if (ret >= 0)
		ret = nl_socket_modify_cb(sk, NL_CB_FINISH, NL_CB_CUSTOM,
					  on_finish, d);
	if (ret < 0) {
		ret = nt_err_set(err, nl_errno(ret), "libnl callbacks: %s",
				 nl_geterror(ret));
		goto out;
	}
	for (i = 0; i < ARRAY_SIZE(families); i++) {
		d->family = families[i];
		ret = dump_family(sk, d);
		if (ret)
			break;
	}
out:
	nl_socket_free(sk);	/* closes the netlink socket */
	return ret;
}

int sockdiag__listeners(int netns_fd, sockdiag_cb cb, void *arg,
			struct nt_err *err)
{
	struct dump d = { .cb = cb, .arg = arg, .err = err,
			  .states = 1u << TCP_LISTEN,
			  .max = SOCKDIAG_MAX_LISTENERS };

	return run_dump(netns_fd, &d);
}

int sockdiag__sockets(int netns_fd, uint32_t states, sockdiag_cb cb,
		      void *arg, struct nt_err *err)
{
	struct dump d = { .cb = cb, .arg = arg, .err = err, .states = states,
			  .max = SOCKDIAG_MAX_SOCKETS };

	return run_dump(netns_fd, &d);
}
