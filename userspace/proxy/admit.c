// SPDX-License-Identifier: Apache-2.0
/*
 * Admission to the proxy's ports, against Slowloris: a network peer that
 * opens connections to the mesh port and never finishes its TLS handshake
 * holds a descriptor and an SSL object each, at no cost to itself. The
 * figures and the reasons are in docs/mesh-protocol.md, "Admission".
 *
 *  - Handshakes pending on the mesh port are capped per peer address and
 *    in total. At a cap an older pending handshake is closed, not the
 *    newcomer: the oldest of the same peer, or at the total cap the oldest
 *    of a peer holding more than the average share. A real handshake takes
 *    milliseconds, so it is never the one that has waited longest, and a
 *    peer with few pending keeps them while another holds many.
 *  - Under pressure (half the total cap pending, or descriptors ran short
 *    lately) a pending handshake has PROXY_HANDSHAKE_BUSY seconds from its
 *    accept, not PROXY_HANDSHAKE_TIMEOUT; and one accepted then gets its
 *    flow record only when its handshake succeeds, or as one of at most
 *    ADMIT_FLOW_SAMPLES a second when it fails or is shed: an attack would
 *    otherwise flush every real flow out of the flow table's ring.
 *  - New connections from the network stop at the descriptor reserve,
 *    local workloads' at half of it: the rest is for connections already
 *    accepted (each needs a second descriptor) and the control socket.
 *    There, and when descriptors run out, a pending handshake gives its
 *    descriptor up (chosen as at the total cap) before a newcomer is
 *    refused.
 * What was shed is counted for `proxy status` and logged at most every
 * ADMIT_LOG_EVERY seconds.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "userspace/proxy/proxy_int.h"

#define ADMIT_LOG_EVERY	10	/* s */
#define SHORT_FD_HOLD	5	/* s of pressure after descriptors ran short */
#define ADMIT_FLOW_SAMPLES 10	/* flow records a second of failed handshakes
				 * accepted under pressure */

struct admit_peer {
	uint32_t addr[4];		/* IPv6; IPv4 as v4-mapped */
	unsigned int pending;
	struct admit_peer *next;	/* hash chain */
};

static const char *const shed_names[PROXY_SHED_MAX] = {
	"per_peer_cap", "total_cap", "fd_reserve", "fd_limit",
	"handshake_timeout",
};

const char *proxy__shed_name(enum proxy_shed s)
{
	return s < PROXY_SHED_MAX ? shed_names[s] : "unknown";
}

static unsigned int clamp_u(unsigned int v, unsigned int lo, unsigned int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The figures follow the descriptor limit: under systemd's default hard
 * limit (524288) they are the PROXY_ maxima. */
void admit__init(struct proxy *px)
{
	struct proxy_admit *adm = &px->adm;
	unsigned int max = fdlimit__max();

	adm->reserve = clamp_u(max / 8, 32, 1024);
	adm->pending_max = clamp_u(max / 4, 16, PROXY_PENDING_MAX);
	adm->peer_max = clamp_u(adm->pending_max / 4, 4, PROXY_PENDING_PEER_MAX);
	if (getrandom(&adm->seed, sizeof(adm->seed), GRND_NONBLOCK) !=
	    sizeof(adm->seed))
		adm->seed = (uint32_t)clock__mono_ns();
	pr_info("mesh port: at most %u handshakes pending, %u per peer address; %u of %u descriptors kept in reserve",
		adm->pending_max, adm->peer_max, adm->reserve, max);
}

/* ---- peers ------------------------------------------------------------------ */

/* Seeded, so that an attacker choosing addresses cannot aim at a chain. */
static unsigned int peer_hash(const struct proxy_admit *adm, const uint32_t *a)
{
	uint32_t h = adm->seed;
	int i;

	for (i = 0; i < 4; i++) {
		h ^= a[i];
		h *= 0x9e3779b1u;
		h ^= h >> 16;
	}
	return h % PEER_BUCKETS;
}

static struct admit_peer *peer_get(struct proxy_admit *adm, const uint32_t *addr)
{
	struct admit_peer **head = &adm->peers[peer_hash(adm, addr)], *p;

	for (p = *head; p; p = p->next)
		if (!memcmp(p->addr, addr, sizeof(p->addr)))
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	memcpy(p->addr, addr, sizeof(p->addr));
	p->next = *head;
	*head = p;
	adm->npeers++;
	return p;
}

static void peer_put(struct proxy_admit *adm, struct admit_peer *p)
{
	struct admit_peer **pp = &adm->peers[peer_hash(adm, p->addr)];

	if (--p->pending)
		return;
	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	adm->npeers--;
	free(p);
}

/* The mesh listener is dual-stack: IPv4 peers come v4-mapped. A peer
 * already gone counts under the all-zero address. */
static void peer_addr(int fd, uint32_t addr[4])
{
	struct sockaddr_in6 s6;
	socklen_t len = sizeof(s6);

	memset(addr, 0, 4 * sizeof(addr[0]));
	if (!getpeername(fd, (struct sockaddr *)&s6, &len) &&
	    s6.sin6_family == AF_INET6)
		memcpy(addr, &s6.sin6_addr, 4 * sizeof(addr[0]));
}

/* ---- pending handshakes ---------------------------------------------------- */

bool admit__pressure(const struct proxy *px)
{
	const struct proxy_admit *adm = &px->adm;

	return adm->npending * 2 >= adm->pending_max ||
	       clock__mono_s() < adm->short_until;
}

void admit__sample_flow(struct pconn *c)
{
	struct proxy_admit *adm = &c->px->adm;
	time_t now = clock__mono_s();

	if (c->flow_id)
		return;
	if (now != adm->sample_sec) {
		adm->sample_sec = now;
		adm->samples = 0;
	}
	if (adm->samples < ADMIT_FLOW_SAMPLES) {
		adm->samples++;
		pflow__open(c, NULL);
	}
}

static void shed(struct pconn *c, enum proxy_shed why)
{
	struct proxy_admit *adm = &c->px->adm;
	char reason[128];

	adm->shed[why]++;
	admit__sample_flow(c);
	if (why == PROXY_SHED_PEER)
		snprintf(reason, sizeof(reason), "shed: %u handshakes pending from its address (per-peer cap)",
			 adm->peer_max);
	else if (why == PROXY_SHED_TOTAL)
		snprintf(reason, sizeof(reason), "shed: %u handshakes pending in all (total cap)",
			 adm->pending_max);
	else
		snprintf(reason, sizeof(reason), "shed: descriptors ran short (reserve of %u)",
			 adm->reserve);
	pflow__reason(c, reason);
	pconn__close(c, true, "shed");
}

static struct pconn *oldest_of(const struct proxy_admit *adm,
			       const struct admit_peer *p)
{
	struct pconn *c;

	for (c = adm->oldest; c && c->peer != p; c = c->pend_next)
		;
	return c;
}

/* The oldest handshake of a peer holding more than the average share;
 * when all hold the same, the oldest of all. */
static struct pconn *total_victim(const struct proxy_admit *adm)
{
	struct pconn *c;

	for (c = adm->oldest; c; c = c->pend_next)
		if ((uint64_t)c->peer->pending * adm->npeers > adm->npending)
			return c;
	return adm->oldest;
}

bool admit__handshake(struct pconn *c)
{
	struct proxy_admit *adm = &c->px->adm;
	struct admit_peer *p;
	struct pconn *victim;
	uint32_t addr[4];

	peer_addr(c->a.h.fd, addr);
	p = peer_get(adm, addr);
	if (!p) {
		pconn__close(c, true, "out of memory");
		return false;
	}
	/* Counted before any eviction, which then cannot free it. */
	p->pending++;
	if (p->pending > adm->peer_max && (victim = oldest_of(adm, p)))
		shed(victim, PROXY_SHED_PEER);
	else if (adm->npending >= adm->pending_max && adm->oldest)
		shed(total_victim(adm), PROXY_SHED_TOTAL);
	c->peer = p;
	c->pend_prev = adm->newest;
	c->pend_next = NULL;
	if (adm->newest)
		adm->newest->pend_next = c;
	else
		adm->oldest = c;
	adm->newest = c;
	adm->npending++;
	return true;
}

void admit__done(struct pconn *c)
{
	struct proxy_admit *adm = &c->px->adm;

	if (!c->peer)
		return;
	if (c->pend_prev)
		c->pend_prev->pend_next = c->pend_next;
	else
		adm->oldest = c->pend_next;
	if (c->pend_next)
		c->pend_next->pend_prev = c->pend_prev;
	else
		adm->newest = c->pend_prev;
	c->pend_prev = c->pend_next = NULL;
	peer_put(adm, c->peer);
	c->peer = NULL;
	adm->npending--;
}

/* ---- descriptors ------------------------------------------------------------- */

/* Descriptors ran short: a pending handshake gives its own up, if any. */
static bool make_room(struct proxy_admit *adm)
{
	adm->short_until = clock__mono_s() + SHORT_FD_HOLD;
	if (!adm->oldest)
		return false;
	shed(total_victim(adm), PROXY_SHED_RESERVE);
	return true;
}

bool admit__fd(struct proxy *px, int fd, bool local)
{
	struct proxy_admit *adm = &px->adm;

	if (!fdlimit__in_reserve(fd, local ? adm->reserve / 2 : adm->reserve) ||
	    make_room(adm))
		return true;
	fdlimit__reset(fd);
	adm->shed[PROXY_SHED_RESERVE]++;
	return false;
}

bool admit__no_fd(struct proxy *px, int listen_fd)
{
	if (make_room(&px->adm))
		return true;
	fdlimit__refuse(listen_fd);
	return false;
}

/* ---- once a second ------------------------------------------------------------ */

void admit__shed_counts(const struct proxy_admit *adm, uint64_t n[PROXY_SHED_MAX])
{
	memcpy(n, adm->shed, sizeof(adm->shed));
	n[PROXY_SHED_FDLIMIT] = fdlimit__refused();
}

static void log_shed(struct proxy_admit *adm, time_t now)
{
	uint64_t n[PROXY_SHED_MAX], d[PROXY_SHED_MAX], sum = 0;
	int i;

	if (adm->logged_at && now - adm->logged_at < ADMIT_LOG_EVERY)
		return;
	admit__shed_counts(adm, n);
	for (i = 0; i < PROXY_SHED_MAX; i++)
		sum += d[i] = n[i] - adm->logged[i];
	if (!sum)
		return;
	pr_warn("proxy: shed %llu connections: %llu at the per-peer cap (%u), %llu at the total cap (%u), %llu at the descriptor reserve, %llu at the descriptor limit, %llu handshake timeouts; %u handshakes pending",
		(unsigned long long)sum, (unsigned long long)d[PROXY_SHED_PEER],
		adm->peer_max, (unsigned long long)d[PROXY_SHED_TOTAL],
		adm->pending_max, (unsigned long long)d[PROXY_SHED_RESERVE],
		(unsigned long long)d[PROXY_SHED_FDLIMIT],
		(unsigned long long)d[PROXY_SHED_TIMEOUT], adm->npending);
	memcpy(adm->logged, n, sizeof(n));
	adm->logged_at = now;
}

/* Pending handshakes past their deadline, the shortened one under
 * pressure, end here, before pconn__tick's own timeouts. */
void admit__tick(struct proxy *px)
{
	struct proxy_admit *adm = &px->adm;
	time_t now = clock__mono_s(), dl, busy;
	bool pressure = admit__pressure(px);
	struct pconn *c, *next;

	for (c = adm->oldest; c; c = next) {
		next = c->pend_next;
		busy = (time_t)(c->t_start / NT_NSEC_PER_SEC) + PROXY_HANDSHAKE_BUSY;
		dl = pressure && busy < c->deadline ? busy : c->deadline;
		if (now <= dl)
			continue;
		adm->shed[PROXY_SHED_TIMEOUT]++;
		admit__sample_flow(c);
		pflow__reason(c, dl < c->deadline ?
			      "handshake timeout, shortened under pressure" :
			      "handshake or connect timeout");
		pconn__close(c, true, "timeout");
	}
	log_shed(adm, now);
}
