// SPDX-License-Identifier: Apache-2.0
/*
 * wlapi_testd: libworkload_api served by a small stand-in for nametagd, so
 * real gRPC clients can be run against the library without the daemon
 * (tests/workload_api/test_*.sh).
 *
 * It does what the daemon adapter will do, simply: a CA in a state dir
 * (node_ca), an epoll loop with a one-second timer, SVIDs minted per
 * caller and rotated at half life, bundles from the state dir's trust
 * store. Identities follow the caller's uid: uid U gets
 * spiffe://example.org/uid/U, except uid 65534 (nobody), which gets none.
 * Evidence is the caller's pid and its start time from /proc at connect,
 * checked again at every call (the daemon reads the BPF process table
 * instead); a caller gone since is Unauthenticated.
 *
 * Commands on stdin, one a line: "rotate" (new SVIDs for everyone now),
 * "withdraw UID" / "restore UID", "federate TD" (a federated bundle with a
 * fresh CA), "stats" (one JSON line on stdout), "quit".
 *
 *   wlapi_testd --socket PATH --state DIR [--svid-ttl S] [--conns-per-uid N]
 *               [--conn-mem BYTES] [--preface-timeout S] [--idle-timeout S]
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "userspace/workload_api/workload_api.h"

#define TD		"example.org"
#define NOBODY		65534
#define MAX_UIDS	64

struct identity {
	uid_t uid;
	struct svid *svid;
	time_t renew_at;
	bool withdrawn;
};

static struct {
	int epfd;
	const char *state;
	int64_t svid_ttl;
	struct node_ca *ca;
	struct bundle_set *bundles;
	struct identity ids[MAX_UIDS];
	size_t nids;
	struct wlapi *srv;
	bool stop;
	uint64_t attested;		/* identity() and bundles() calls */
	/* watches dropped during the current batch of events */
	struct wlapi_watch *dropped[256];
	size_t ndropped;
} T;

static void die(const char *what, const struct nt_err *err)
{
	fprintf(stderr, "wlapi_testd: %s: %s\n", what, err ? err->msg : "");
	exit(1);
}

/* ---- the loop ---------------------------------------------------------------- */

static int do_watch(void *ctx, struct wlapi_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (!epoll_ctl(T.epfd, EPOLL_CTL_MOD, w->fd, &ev))
		return 0;
	return epoll_ctl(T.epfd, EPOLL_CTL_ADD, w->fd, &ev) ? -errno : 0;
}

static void do_unwatch(void *ctx, struct wlapi_watch *w)
{
	epoll_ctl(T.epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (T.ndropped < sizeof(T.dropped) / sizeof(T.dropped[0]))
		T.dropped[T.ndropped++] = w;
}

static bool dropped(const void *p)
{
	size_t i;

	for (i = 0; i < T.ndropped; i++)
		if (T.dropped[i] == p)
			return true;
	return false;
}

/* ---- callers and identities -------------------------------------------------- */

struct caller {
	pid_t pid;
	uid_t uid;
	unsigned long long start;	/* /proc/PID/stat field 22 */
};

static int start_time(pid_t pid, unsigned long long *out)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -ESRCH;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* comm may hold spaces */
	for (i = 2; p && i < 22; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", out) != 1)
		return -ESRCH;
	return 0;
}

static int conn_open(void *ctx, int fd, const struct ucred *cred, void **out)
{
	struct caller *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->pid = cred->pid;
	c->uid = cred->uid;
	if (start_time(c->pid, &c->start)) {
		free(c);
		return -ESRCH;
	}
	*out = c;
	return 0;
}

static void conn_close(void *ctx, void *caller)
{
	free(caller);
}

static struct identity *identity_of(uid_t uid)
{
	size_t i;

	for (i = 0; i < T.nids; i++)
		if (T.ids[i].uid == uid)
			return &T.ids[i];
	if (T.nids == MAX_UIDS)
		return NULL;
	T.ids[T.nids].uid = uid;
	return &T.ids[T.nids++];
}

static int mint(struct identity *id, time_t now)
{
	struct nt_err err = { "" };
	struct spiffe_id sid;
	struct svid *s = NULL;
	char uri[128];

	snprintf(uri, sizeof(uri), "spiffe://" TD "/uid/%u", (unsigned)id->uid);
	if (spiffe_id__parse(&sid, uri, strlen(uri), &err) ||
	    node_ca__mint(T.ca, &sid, T.svid_ttl, now, &s, &err)) {
		fprintf(stderr, "wlapi_testd: mint: %s\n", err.msg);
		return -EAGAIN;
	}
	svid__free(id->svid);
	id->svid = s;
	id->renew_at = now + (T.svid_ttl ? T.svid_ttl : 3600) / 2;
	return 0;
}

static int get_identity(void *ctx, void *caller, struct wlapi_identity *out)
{
	struct caller *c = caller;
	unsigned long long now_start;
	struct identity *id;

	T.attested++;
	/* The evidence taken at connect must still describe a live process. */
	if (start_time(c->pid, &now_start) || now_start != c->start)
		return -ESRCH;
	if (c->uid == NOBODY)
		return -EPERM;
	id = identity_of(c->uid);
	if (!id)
		return -EAGAIN;
	if (id->withdrawn)
		return -EPERM;
	if (!id->svid && mint(id, time(NULL)))
		return -EAGAIN;
	out->svids[0].svid = id->svid;
	out->svids[0].hint = "";
	out->n = 1;
	return 0;
}

static int get_bundles(void *ctx, void *caller, const struct bundle_set **set,
		       const char **local)
{
	struct caller *c = caller;
	unsigned long long now_start;

	T.attested++;
	if (start_time(c->pid, &now_start) || now_start != c->start)
		return -ESRCH;
	*set = T.bundles;
	*local = TD;
	return 0;
}

static int mint_jwt(void *ctx, void *caller, const struct spiffe_id *id,
		    const char *const *aud, size_t naud, char **token,
		    struct nt_err *err)
{
	return node_ca__mint_jwt(T.ca, id, aud, naud, 0, time(NULL), token,
				 NULL, err);
}

static void log_line(void *ctx, int level, const char *msg)
{
	fprintf(stderr, "wlapi_testd: %s\n", msg);
}

/* ---- commands ------------------------------------------------------------------- */

static void rotate_all(time_t now, bool force)
{
	bool any = false;
	size_t i;

	for (i = 0; i < T.nids; i++)
		if (T.ids[i].svid && (force || now >= T.ids[i].renew_at))
			any |= !mint(&T.ids[i], now);
	if (any)
		wlapi__changed(T.srv, WLAPI_CHANGED_IDENTITY);
}

static void federate(const char *td)
{
	struct ca_init_opts o = { .trust_domain = td, .now = time(NULL) };
	struct nt_err err = { "" };
	struct bundle_set *set = NULL;
	struct node_ca *ca = NULL;
	struct bundle *b = NULL;
	char dir[PATH_MAX], path[PATH_MAX];

	/* A CA of the other trust domain, its bundle copied in as a
	 * federated one, and the trust store read again. */
	if (snprintf(dir, sizeof(dir), "%s/fed-%s", T.state, td) >= PATH_MAX ||
	    snprintf(path, sizeof(path), "%s/" STATE_FEDERATION_DIR,
		     T.state) >= PATH_MAX)
		die("federate: path too long", NULL);
	if (node_ca__init(dir, &o, &err) || node_ca__open(&ca, dir, &err) ||
	    state__mkdir(path, &err))
		die("federate", &err);
	if (snprintf(path, sizeof(path), "%s/" STATE_FEDERATION_DIR "/%s.json",
		     T.state, td) >= PATH_MAX)
		die("federate: path too long", NULL);
	if (bundle__parse(&b, td, "{\"keys\":[]}", 11, &err))
		die("federate", &err);
	bundle__free(b);
	if (bundle__save(node_ca__bundle(ca), path, &err) ||
	    trust__load(T.state, &set, &err))
		die("federate", &err);
	node_ca__close(ca);
	bundle_set__free(T.bundles);
	T.bundles = set;
	wlapi__changed(T.srv, WLAPI_CHANGED_BUNDLES);
}

static void print_stats(void)
{
	struct wlapi_stats st;

	wlapi__stats(T.srv, &st);
	printf("{\"conns\":%u,\"streams\":%u,\"mem\":%zu,\"accepted\":%llu,"
	       "\"refused_total\":%llu,\"refused_uid\":%llu,\"timeouts\":%llu,"
	       "\"over_budget\":%llu,\"calls\":%llu,\"pushes\":%llu,"
	       "\"errors\":%llu,\"attested\":%llu}\n", st.conns, st.streams, st.mem,
	       (unsigned long long)st.accepted,
	       (unsigned long long)st.refused_total,
	       (unsigned long long)st.refused_uid,
	       (unsigned long long)st.timeouts,
	       (unsigned long long)st.over_budget,
	       (unsigned long long)st.calls, (unsigned long long)st.pushes,
	       (unsigned long long)st.errors, (unsigned long long)T.attested);
	fflush(stdout);
}

static void command(char *line)
{
	struct identity *id;
	unsigned int uid;
	char td[256];

	line[strcspn(line, "\n")] = '\0';
	if (!strcmp(line, "rotate")) {
		rotate_all(time(NULL), true);
	} else if (sscanf(line, "withdraw %u", &uid) == 1 &&
		   (id = identity_of(uid))) {
		id->withdrawn = true;
		wlapi__changed(T.srv, WLAPI_CHANGED_IDENTITY);
	} else if (sscanf(line, "restore %u", &uid) == 1 &&
		   (id = identity_of(uid))) {
		id->withdrawn = false;
		wlapi__changed(T.srv, WLAPI_CHANGED_IDENTITY);
	} else if (sscanf(line, "federate %255s", td) == 1) {
		federate(td);
	} else if (!strcmp(line, "stats")) {
		print_stats();
	} else if (!strcmp(line, "quit")) {
		T.stop = true;
	} else {
		fprintf(stderr, "wlapi_testd: unknown command '%s'\n", line);
	}
	printf("done %s\n", line);
	fflush(stdout);
}

/* ---- start-up --------------------------------------------------------------------- */

static void open_ca(void)
{
	struct ca_init_opts o = { .trust_domain = TD, .now = time(NULL) };
	struct nt_err err = { "" };
	int ret;

	ret = node_ca__open(&T.ca, T.state, &err);
	if (ret == -ENOENT) {
		if (node_ca__init(T.state, &o, &err))
			die("ca init", &err);
		ret = node_ca__open(&T.ca, T.state, &err);
	}
	if (ret || trust__load(T.state, &T.bundles, &err))
		die("ca", &err);
}

/* epoll tags of the loop's own descriptors */
static char tag_timer, tag_signal, tag_stdin;

static int add_fd(int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(T.epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int run(int tfd, int sfd)
{
	struct epoll_event evs[64];
	char line[512];
	uint64_t ticks;
	int n, i;

	while (!T.stop) {
		n = epoll_wait(T.epfd, evs, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		T.ndropped = 0;
		for (i = 0; i < n && !T.stop; i++) {
			void *p = evs[i].data.ptr;

			if (p == &tag_timer) {
				if (read(tfd, &ticks, sizeof(ticks)) > 0) {
					rotate_all(time(NULL), false);
					wlapi__tick(T.srv);
				}
			} else if (p == &tag_signal) {
				T.stop = true;
			} else if (p == &tag_stdin) {
				if (!fgets(line, sizeof(line), stdin))
					T.stop = true;
				else
					command(line);
			} else if (!dropped(p)) {
				wlapi__ready(p, evs[i].events);
			}
		}
	}
	(void)sfd;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'd' },
		{ "svid-ttl", required_argument, NULL, 't' },
		{ "conns-per-uid", required_argument, NULL, 'u' },
		{ "conn-mem", required_argument, NULL, 'm' },
		{ "preface-timeout", required_argument, NULL, 'p' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct itimerspec its = { .it_interval.tv_sec = 1, .it_value.tv_sec = 1 };
	struct wlapi_config cfg = { 0 };
	struct wlapi_ops ops = {
		.watch = do_watch, .unwatch = do_unwatch,
		.conn_open = conn_open, .conn_close = conn_close,
		.identity = get_identity, .bundles = get_bundles,
		.mint_jwt = mint_jwt, .log = log_line,
	};
	struct nt_err err = { "" };
	const char *sock = NULL;
	int c, tfd, sfd, ret;
	sigset_t mask;
	size_t i;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'd': T.state = optarg; break;
		case 't': T.svid_ttl = atoll(optarg); break;
		case 'u': cfg.conns_per_uid = (unsigned)atoi(optarg); break;
		case 'm': cfg.conn_mem_max = (size_t)atoll(optarg); break;
		case 'p': cfg.preface_timeout = (unsigned)atoi(optarg); break;
		case 'i': cfg.idle_timeout = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!sock || !T.state) {
		fprintf(stderr, "usage: wlapi_testd --socket PATH --state DIR [...]\n");
		return 2;
	}
	setvbuf(stdin, NULL, _IONBF, 0);
	open_ca();
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	T.epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (T.epfd < 0 || tfd < 0 || sfd < 0 ||
	    timerfd_settime(tfd, 0, &its, NULL))
		die("loop", NULL);
	if (add_fd(tfd, &tag_timer) || add_fd(sfd, &tag_signal))
		die("epoll", NULL);
	/* stdin may be a file (/dev/null), which epoll refuses: no commands. */
	if (add_fd(STDIN_FILENO, &tag_stdin) && errno != EPERM)
		die("epoll: stdin", NULL);
	if (wlapi__new(&T.srv, &cfg, &ops, &err) ||
	    wlapi__listen(T.srv, sock, &err))
		die("workload api", &err);
	printf("ready %s\n", sock);
	fflush(stdout);
	ret = run(tfd, sfd);
	wlapi__free(T.srv);
	for (i = 0; i < T.nids; i++)
		svid__free(T.ids[i].svid);
	bundle_set__free(T.bundles);
	node_ca__close(T.ca);
	close(tfd);
	close(sfd);
	close(T.epfd);
	return ret ? 1 : 0;
}
