// SPDX-License-Identifier: Apache-2.0
/*
 * bpf/lookup.bpf.c, the sk_lookup program that decides who gets each SYN
 * of a served network namespace, driven by BPF_PROG_TEST_RUN: a
 * struct bpf_sk_lookup in, the verdict (SK_PASS, SK_DROP) and the cookie
 * of the socket it assigned out. The maps are the object's own, filled
 * here: the proxy's listening sockets go into the proxy_socks sockmap,
 * an enrolled listener into listen_socks and the namespace's listener
 * table. Needs root (CAP_BPF, CAP_NET_ADMIN); skipped otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/lookup.skel.h"
#include "bpf/nametag.h"
#include "lib/ntcore.h"
#include "tests/unit/harness.h"

#define NETNS		4242		/* the namespace the instance serves */
#define NS_CGROUP	777		/* an enrolled namespace's cgroup id */
#define SLOT		0
#define SK_DROP		0
#define SK_PASS		1

struct rig {
	struct lookup_bpf *skel;
	int out4, net, workload;	/* listening sockets */
	uint64_t out4_cookie, net_cookie, workload_cookie;
	int table;			/* NETNS's listener table */
};

static int listener(uint64_t *cookie)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(*cookie);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, 8) || getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len))
		t_fail(__FILE__, __LINE__, "listener: %s", strerror(errno));
	return fd;
}

static int put_sock(int map, uint32_t kind, int fd)
{
	uint32_t k = SLOT * NT_PSOCK_MAX + kind;
	uint64_t v = fd;

	return bpf_map_update_elem(map, &k, &v, BPF_ANY);
}

static void set_proxy(struct rig *r, uint64_t overflow)
{
	struct nt_proxy p = { .slot = SLOT, .flags = NT_PROXY_SERVED,
			      .mesh_port = 15008, .overflow = overflow };
	uint32_t ino = NETNS;

	nt_addr__set_v4(&p.outbound4, htonl(INADDR_LOOPBACK), 15001);
	CHECK_EQ(bpf_map_update_elem(bpf_map__fd(r->skel->maps.proxies), &ino,
				     &p, BPF_ANY), 0);
}

/* The program, with its maps filled as a served namespace's; false when
 * this process may not load BPF (the case is then skipped). */
static bool rig_up(struct rig *r)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	uint32_t ino = NETNS;
	uint64_t v;
	int ret;

	memset(r, 0, sizeof(*r));
	r->skel = lookup_bpf__open();
	if (!r->skel) {
		t_skip("cannot open the sk_lookup object: %s", strerror(errno));
		return false;
	}
	r->skel->rodata->netns_ino = NETNS;
	ret = lookup_bpf__load(r->skel);
	if (ret) {
		t_skip("cannot load BPF here (%s): root and a kernel with sk_lookup",
		       strerror(-ret));
		lookup_bpf__destroy(r->skel);
		return false;
	}
	set_proxy(r, 0);
	r->out4 = listener(&r->out4_cookie);
	r->net = listener(&r->net_cookie);
	r->workload = listener(&r->workload_cookie);
	CHECK_EQ(put_sock(bpf_map__fd(r->skel->maps.proxy_socks), NT_PSOCK_OUT4,
			  r->out4), 0);
	CHECK_EQ(put_sock(bpf_map__fd(r->skel->maps.proxy_socks), NT_PSOCK_NET,
			  r->net), 0);
	v = r->workload;
	CHECK_EQ(bpf_map_update_elem(bpf_map__fd(r->skel->maps.listen_socks),
				     &r->workload_cookie, &v, BPF_ANY), 0);
	r->table = bpf_map_create(BPF_MAP_TYPE_HASH, "nt_listeners",
				  sizeof(struct nt_listen_key),
				  sizeof(struct nt_listener), 64, &opts);
	CHECK(r->table >= 0);
	CHECK_EQ(bpf_map_update_elem(bpf_map__fd(r->skel->maps.listeners), &ino,
				     &r->table, BPF_ANY), 0);
	return true;
}

static void rig_down(struct rig *r)
{
	close(r->out4);
	close(r->net);
	close(r->workload);
	close(r->table);
	lookup_bpf__destroy(r->skel);
}

/* An enrolled namespace in @mode listening on @ip4:@port. */
static void enroll(struct rig *r, uint32_t ip4, uint16_t port, enum nt_mode mode)
{
	struct nt_ns_value ns = { .mode = mode, .ns_id = 1 };
	struct nt_listen_key k = { .kind = NT_LKEY_ADDR, .port = port };
	struct nt_listener l = { .cookie = r->workload_cookie, .count = 1 };
	struct nt_addr a;
	uint64_t cg = NS_CGROUP;

	nt_addr__set_v4(&a, ip4, port);
	memcpy(k.addr, a.addr, sizeof(k.addr));
	l.owner.ev.ns_cgroup_id = NS_CGROUP;
	l.owner.ev.mode = mode;
	CHECK_EQ(bpf_map_update_elem(r->table, &k, &l, BPF_ANY), 0);
	CHECK_EQ(bpf_map_update_elem(bpf_map__fd(r->skel->maps.ns_mode), &cg,
				     &ns, BPF_ANY), 0);
}

/* Runs the program on a TCP SYN from @src:@sport to @dst:@dport (IPv4,
 * network order): its verdict, and in *@cookie the socket it chose. */
static int syn(struct rig *r, uint32_t src, uint16_t sport, uint32_t dst,
	       uint16_t dport, uint64_t *cookie)
{
	struct bpf_sk_lookup in = {
		.family = AF_INET, .protocol = IPPROTO_TCP,
		.remote_ip4 = src, .remote_port = htons(sport),
		.local_ip4 = dst, .local_port = dport,
	}, out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &in,
		    .ctx_size_in = sizeof(in), .ctx_out = &out,
		    .ctx_size_out = sizeof(out));
	int ret;

	ret = bpf_prog_test_run_opts(bpf_program__fd(r->skel->progs.nt_lookup),
				     &opts);
	CHECKF(!ret, "BPF_PROG_TEST_RUN: %s", strerror(-ret));
	*cookie = out.cookie;
	return opts.retval;
}

#define LOCALHOST	htonl(INADDR_LOOPBACK)
#define DELIVERY	htonl(NT_DELIVERY_ADDR4)
#define POD		htonl(0x0a000001)	/* 10.0.0.1, the pod */
#define PEER		htonl(0x0a000009)	/* 10.0.0.9, another node */

/* 1. The redirect target goes to the proxy's own socket, never to
 * whoever else listens there; with the socket gone, refused. */
static void test_proxy_addresses(void)
{
	uint64_t cookie;
	struct rig r;

	if (!rig_up(&r))
		return;
	CHECK_EQ(syn(&r, LOCALHOST, 40000, LOCALHOST, 15001, &cookie), SK_PASS);
	CHECK_EQ(cookie, r.out4_cookie);
	CHECK_EQ(syn(&r, PEER, 40000, POD, 15008, &cookie), SK_PASS);
	CHECK_EQ(cookie, r.net_cookie);
	close(r.net);			/* the proxy died: its slot empties */
	r.net = -1;
	CHECK_EQ(syn(&r, PEER, 40000, POD, 15008, &cookie), SK_DROP);
	rig_down(&r);
}

/* 1b. The hold address, the target's address at port 0 (a connect() made
 * before the proxy existed, bpf/serve.bpf.h), goes to the proxy's outbound
 * socket; another address's port 0 is nobody's; with the proxy gone,
 * refused. */
static void test_hold_address(void)
{
	uint64_t cookie;
	struct rig r;

	if (!rig_up(&r))
		return;
	CHECK_EQ(syn(&r, LOCALHOST, 40001, htonl(NT_HOLD_ADDR4), 0, &cookie),
		 SK_PASS);
	CHECK_EQ(cookie, r.out4_cookie);
	CHECK_EQ(syn(&r, POD, 40001, POD, 0, &cookie), SK_PASS);
	CHECK_EQ(cookie, 0);		/* not ours: the kernel answers RST */
	close(r.out4);
	r.out4 = -1;
	CHECK_EQ(syn(&r, LOCALHOST, 40001, htonl(NT_HOLD_ADDR4), 0, &cookie),
		 SK_DROP);
	rig_down(&r);
}

/* 2. A ticketed delivery goes to exactly the socket judged, bypassing
 * reuseport; other loopback traffic is the pod's own. */
static void test_ticketed_delivery(void)
{
	struct nt_ticket_key k = { .netns_ino = NETNS, .sport = 50000,
				   .dport = 8080 };
	struct nt_addr s, d;
	uint64_t cookie;
	struct rig r;

	if (!rig_up(&r))
		return;
	nt_addr__set_v4(&s, DELIVERY, 50000);
	nt_addr__set_v4(&d, LOCALHOST, 8080);
	memcpy(k.saddr, s.addr, sizeof(k.saddr));
	memcpy(k.daddr, d.addr, sizeof(k.daddr));
	CHECK_EQ(bpf_map_update_elem(bpf_map__fd(r.skel->maps.tickets), &k,
				     &r.workload_cookie, BPF_ANY), 0);
	CHECK_EQ(syn(&r, DELIVERY, 50000, LOCALHOST, 8080, &cookie), SK_PASS);
	CHECK_EQ(cookie, r.workload_cookie);
	CHECK_EQ(syn(&r, DELIVERY, 50001, LOCALHOST, 8080, &cookie), SK_PASS);
	CHECK_EQ(cookie, 0);		/* no ticket: the kernel picks */
	close(r.workload);		/* the judged socket is gone */
	r.workload = -1;
	CHECK_EQ(syn(&r, DELIVERY, 50000, LOCALHOST, 8080, &cookie), SK_DROP);
	rig_down(&r);
}

/* 3. A SYN for an enrolled listener in permissive or strict goes to the
 * proxy's inbound socket; observe leaves it alone. */
static void test_enrolled_listener_steered(void)
{
	uint64_t cookie;
	struct rig r;

	if (!rig_up(&r))
		return;
	enroll(&r, POD, 8080, NT_MODE_STRICT);
	CHECK_EQ(syn(&r, PEER, 40000, POD, 8080, &cookie), SK_PASS);
	CHECK_EQ(cookie, r.net_cookie);
	enroll(&r, 0, 9090, NT_MODE_PERMISSIVE);	/* 0.0.0.0:9090 */
	CHECK_EQ(syn(&r, PEER, 40000, POD, 9090, &cookie), SK_PASS);
	CHECK_EQ(cookie, r.net_cookie);
	enroll(&r, POD, 7070, NT_MODE_OBSERVE);
	CHECK_EQ(syn(&r, PEER, 40000, POD, 7070, &cookie), SK_PASS);
	CHECK_EQ(cookie, 0);
	rig_down(&r);
}

/* Strict with no proxy to take it: refused (RST), never plaintext;
 * permissive lets it through. */
static void test_strict_without_proxy_refused(void)
{
	uint64_t cookie;
	struct rig r;

	if (!rig_up(&r))
		return;
	close(r.net);
	r.net = -1;
	enroll(&r, POD, 8080, NT_MODE_STRICT);
	CHECK_EQ(syn(&r, PEER, 40000, POD, 8080, &cookie), SK_DROP);
	enroll(&r, POD, 9090, NT_MODE_PERMISSIVE);
	CHECK_EQ(syn(&r, PEER, 40000, POD, 9090, &cookie), SK_PASS);
	CHECK_EQ(cookie, 0);
	rig_down(&r);
}

/* 4. No record passes, unless the table overflowed: then strict's
 * promise cannot be checked and every unrecorded SYN is refused. */
static void test_no_record(void)
{
	uint64_t cookie;
	struct rig r;

	if (!rig_up(&r))
		return;
	CHECK_EQ(syn(&r, PEER, 40000, POD, 5555, &cookie), SK_PASS);
	CHECK_EQ(cookie, 0);
	set_proxy(&r, 1);
	CHECK_EQ(syn(&r, PEER, 40000, POD, 5555, &cookie), SK_DROP);
	rig_down(&r);
}

T_MAIN("bpf/sk_lookup",
       T(test_proxy_addresses),
       T(test_hold_address),
       T(test_ticketed_delivery),
       T(test_enrolled_listener_steered),
       T(test_strict_without_proxy_refused),
       T(test_no_record));
