// SPDX-License-Identifier: Apache-2.0
/*
 * nt_testproxy: stands in for the node proxy in the live-kernel tests.
 *
 *   nt_testproxy --run-dir R --bpffs D --netns PATH --outbound IP:PORT
 *                [--outbound6 [IP6]:PORT] [--inbound-port PORT] [--count N]
 *
 * Enters the network namespace PATH, listens on IP:PORT (outbound: where
 * enrolled connect()s are rewritten to; --outbound6 adds an IPv6 one, as
 * the real proxy has both) and, with --inbound-port, on
 * 0.0.0.0:PORT (inbound: where sk_lookup steers connections to enrolled
 * listeners), registers them with nametagd (proxy.set, the netns and the
 * listeners passed with SCM_RIGHTS: the namespace's sk_lookup program then
 * hands their SYNs to these very sockets), prints "ready", then accepts N
 * connections (0: until killed). For each it prints one JSON line: which
 * listener, both ends as getpeername()/getsockname() give them (for a
 * steered inbound connection, the port the client dialled), the evidence
 * the BPF programs published under the connection's 4-tuple (or null),
 * and the line the client sent, which it echoes back prefixed "proxy:".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <cjson/cJSON.h>

#include "bpf/nametag.h"
#include "lib/ntcore.h"
#include "userspace/daemon/protocol.h"

#define IO_TIMEOUT_MS	5000
#define LINE_MAX_BYTES	1024

struct opts {
	const char *run_dir, *bpffs, *netns, *outbound, *outbound6;
	unsigned int inbound_port;
	long count;
};

static void die(const char *what)
{
	fprintf(stderr, "nt_testproxy: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fail(const char *msg)
{
	fprintf(stderr, "nt_testproxy: %s\n", msg);
	exit(1);
}

/* "1.2.3.4:80" or "[::1]:80" into a sockaddr. */
static void parse_addr(const char *s, struct sockaddr_storage *ss)
{
	struct nt_err err = {};
	struct nt_addr a;

	if (nt_addr__parse(s, &a, &err))
		fail(err.msg);
	nt_addr__to_sockaddr(&a, a.port, ss);
}

/* Runs outside every enrolled cgroup, as the real proxy does: that, not a
 * mark, is what keeps its own connect()s from being redirected. */
static int listen_on(const struct sockaddr_storage *ss)
{
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss,
		 ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
		 sizeof(struct sockaddr_in6)))
		die("bind");
	if (listen(fd, 64))
		die("listen");
	return fd;
}

/* One request line with the fds attached, one reply line. */
static void register_proxy(const struct opts *o, int netns_fd, int out_fd,
			   int out6_fd, int in_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cbuf[CMSG_SPACE(4 * sizeof(int))] = {}, reply[65536];
	int fds[4] = { netns_fd }, nfds = 1, fd;
	struct msghdr msg = { .msg_control = cbuf };
	struct iovec iov;
	struct cmsghdr *cm;
	cJSON *req, *rep, *names;
	size_t len = 0;
	ssize_t n;
	char *s;

	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, CTL_CMD, CTL_PROXY_SET);
	names = cJSON_AddArrayToObject(req, CTL_K_SOCKETS);
	cJSON_AddStringToObject(req, CTL_K_OUTBOUND4, o->outbound);
	cJSON_AddItemToArray(names, cJSON_CreateString(CTL_SOCK_OUTBOUND4));
	fds[nfds++] = out_fd;
	if (o->outbound6) {
		cJSON_AddStringToObject(req, CTL_K_OUTBOUND6, o->outbound6);
		cJSON_AddItemToArray(names, cJSON_CreateString(CTL_SOCK_OUTBOUND6));
		fds[nfds++] = out6_fd;
	}
	if (in_fd >= 0) {
		cJSON_AddItemToArray(names, cJSON_CreateString(CTL_SOCK_NET));
		fds[nfds++] = in_fd;
	}
	s = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!s)
		fail("out of memory");
	iov.iov_len = strlen(s) + 1;
	s[iov.iov_len - 1] = '\n';
	iov.iov_base = s;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", o->run_dir,
		 CTL_SOCK_NAME);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die(sa.sun_path);
	if (sendmsg(fd, &msg, 0) != (ssize_t)iov.iov_len)
		die("sendmsg");
	free(s);
	while (!memchr(reply, '\n', len) && len < sizeof(reply) - 1) {
		n = read(fd, reply + len, sizeof(reply) - 1 - len);
		if (n <= 0)
			fail("nametagd closed the connection");
		len += n;
	}
	close(fd);
	reply[len] = '\0';
	rep = cJSON_Parse(reply);
	if (!rep || !cJSON_IsTrue(cJSON_GetObjectItem(rep, CTL_OK))) {
		fprintf(stderr, "nt_testproxy: %s refused: %s", CTL_PROXY_SET, reply);
		exit(1);
	}
	cJSON_Delete(rep);
}

static void fmt_sockaddr(const struct sockaddr_storage *ss, char *buf,
			 size_t size)
{
	struct nt_addr a;

	nt_addr__from_sockaddr(&a, ss);
	nt_addr__format(&a, buf, size);
}

static cJSON *evidence_json(int map_fd, const struct sockaddr_storage *peer,
			    const struct sockaddr_storage *local)
{
	struct nt_sock_value v;
	struct nt_tuple key;
	char buf[80], comm[sizeof(v.ev.comm) + 1];
	cJSON *o;

	memset(&key, 0, sizeof(key));
	nt_addr__from_sockaddr(&key.src, peer);
	nt_addr__from_sockaddr(&key.dst, local);
	if (map_fd < 0 || bpf_map_lookup_elem(map_fd, &key, &v))
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "pid", v.ev.pid);
	cJSON_AddNumberToObject(o, "tgid", v.ev.tgid);
	cJSON_AddNumberToObject(o, "uid", v.ev.uid);
	cJSON_AddNumberToObject(o, "gid", v.ev.gid);
	cJSON_AddNumberToObject(o, "cgroup_id", (double)v.ev.cgroup_id);
	cJSON_AddNumberToObject(o, "ns_cgroup_id", (double)v.ev.ns_cgroup_id);
	cJSON_AddNumberToObject(o, "exe_ino", (double)v.ev.exe.ino);
	cJSON_AddNumberToObject(o, "exe_dev", v.ev.exe.dev);
	cJSON_AddNumberToObject(o, "netns_ino", v.ev.netns_ino);
	cJSON_AddNumberToObject(o, "mode", v.ev.mode);
	memcpy(comm, v.ev.comm, sizeof(v.ev.comm));
	comm[sizeof(v.ev.comm)] = '\0';
	cJSON_AddStringToObject(o, "comm", comm);
	nt_addr__format(&v.orig_dst, buf, sizeof(buf));
	cJSON_AddStringToObject(o, "orig_dst", buf);
	cJSON_AddNumberToObject(o, "flags", v.flags);
	return o;
}

/* Reads one line (without its newline) within the timeout. */
static void read_line(int fd, char *buf, size_t size)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;
	char *nl;

	buf[0] = '\0';
	while (len < size - 1 && poll(&p, 1, IO_TIMEOUT_MS) == 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			return;
		}
	}
}

static void serve(int lfd, const char *which, int map_fd)
{
	struct sockaddr_storage peer, local;
	socklen_t plen = sizeof(peer), llen = sizeof(local);
	char line[LINE_MAX_BYTES], out[LINE_MAX_BYTES + 8], buf[80];
	cJSON *o;
	char *s;
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd < 0)
		die("accept");
	if (getsockname(fd, (struct sockaddr *)&local, &llen))
		die("getsockname");
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "listener", which);
	fmt_sockaddr(&peer, buf, sizeof(buf));
	cJSON_AddStringToObject(o, "peer", buf);
	fmt_sockaddr(&local, buf, sizeof(buf));
	cJSON_AddStringToObject(o, "local", buf);
	cJSON_AddNumberToObject(o, "local_port", ntohs(local.ss_family == AF_INET ?
			((struct sockaddr_in *)&local)->sin_port :
			((struct sockaddr_in6 *)&local)->sin6_port));
	/* Before the client can close: closing deletes its tuple entry. */
	cJSON_AddItemToObject(o, "evidence", evidence_json(map_fd, &peer, &local));
	read_line(fd, line, sizeof(line));
	cJSON_AddStringToObject(o, "data", line);
	snprintf(out, sizeof(out), "proxy:%s\n", line);
	if (write(fd, out, strlen(out)) < 0)
		perror("nt_testproxy: write");
	close(fd);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s)
		printf("%s\n", s);
	fflush(stdout);
	free(s);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "run-dir",	  required_argument, NULL, 'r' },
		{ "bpffs",	  required_argument, NULL, 'b' },
		{ "netns",	  required_argument, NULL, 'n' },
		{ "outbound",	  required_argument, NULL, 'o' },
		{ "outbound6",	  required_argument, NULL, '6' },
		{ "inbound-port", required_argument, NULL, 'i' },
		{ "count",	  required_argument, NULL, 'c' },
		{ 0 }
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
		switch (opt) {
		case 'r': o->run_dir = optarg; break;
		case 'b': o->bpffs = optarg; break;
		case 'n': o->netns = optarg; break;
		case 'o': o->outbound = optarg; break;
		case '6': o->outbound6 = optarg; break;
		case 'i': o->inbound_port = strtoul(optarg, NULL, 10); break;
		case 'c': o->count = strtol(optarg, NULL, 10); break;
		default: exit(2);
		}
	}
	if (!o->run_dir || !o->bpffs || !o->netns || !o->outbound ||
	    o->inbound_port > 65535 || optind < argc) {
		fprintf(stderr, "usage: nt_testproxy --run-dir R --bpffs D --netns PATH --outbound IP:PORT [--outbound6 [IP6]:PORT] [--inbound-port PORT] [--count N]\n");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	static const char *const names[] = { "outbound", "inbound", "outbound" };
	struct sockaddr_storage out_ss, out6_ss, in_ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&in_ss;
	struct pollfd p[3];
	char path[4096];
	int netns_fd, out_fd, out6_fd = -1, in_fd = -1, map_fd, np, i;
	long served = 0;

	parse_args(argc, argv, &o);
	parse_addr(o.outbound, &out_ss);
	if (o.outbound6) {
		parse_addr(o.outbound6, &out6_ss);
		if (out_ss.ss_family != AF_INET || out6_ss.ss_family != AF_INET6)
			fail("--outbound6 goes with an IPv4 --outbound");
	}
	netns_fd = open(o.netns, O_RDONLY | O_CLOEXEC);
	if (netns_fd < 0)
		die(o.netns);
	if (setns(netns_fd, CLONE_NEWNET))
		die("setns");
	out_fd = listen_on(&out_ss);
	if (o.outbound6)
		out6_fd = listen_on(&out6_ss);
	if (o.inbound_port) {
		memset(&in_ss, 0, sizeof(in_ss));
		in4->sin_family = AF_INET;
		in4->sin_port = htons(o.inbound_port);
		in4->sin_addr.s_addr = htonl(INADDR_ANY);
		in_fd = listen_on(&in_ss);
	}
	snprintf(path, sizeof(path), "%s/%s/maps/sock_by_tuple", o.bpffs,
		 NT_PIN_DIR);
	map_fd = bpf_obj_get(path);
	if (map_fd < 0)
		fprintf(stderr, "nt_testproxy: %s: %s (evidence will be null)\n",
			path, strerror(errno));
	if (out_ss.ss_family != AF_INET)
		fail("--outbound must be an IPv4 address (--outbound6 adds IPv6)");
	register_proxy(&o, netns_fd, out_fd, out6_fd, in_fd);
	printf("ready\n");
	fflush(stdout);

	/* Unused slots hold -1, which poll() skips. */
	p[0] = (struct pollfd){ .fd = out_fd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = in_fd, .events = POLLIN };
	p[2] = (struct pollfd){ .fd = out6_fd, .events = POLLIN };
	np = 3;
	while (o.count <= 0 || served < o.count) {
		if (poll(p, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (i = 0; i < np && (o.count <= 0 || served < o.count); i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			serve(p[i].fd, names[i], map_fd);
			served++;
		}
	}
	return 0;
}
