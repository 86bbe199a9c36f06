// SPDX-License-Identifier: Apache-2.0
/*
 * The proxy as a whole: made with what the daemon hands it (struct
 * proxy_env, the loop, the datapath), ticked once a second, asked for its
 * status, and torn down. Every piece of its state hangs off struct proxy,
 * so a second proxy (a test's, a worker's) never shares any.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/proxy/proxy_int.h"

int proxy__new(struct proxy **out, const struct proxy_opts *o,
	       const struct proxy_env *env, struct loop *loop,
	       struct datapath *dp, struct nt_err *err)
{
	struct proxy *px = calloc(1, sizeof(*px));
	int ret;

	if (!px)
		return nt_err_set(err, -ENOMEM, "out of memory");
	px->env = *env;
	px->opts = *o;
	px->loop = loop;
	px->dp = dp;
	if (!px->opts.max_netns)
		px->opts.max_netns = NT_MAX_NETNS;
	px->served = calloc(px->opts.max_netns, sizeof(*px->served));
	if (!px->served) {
		free(px);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	admit__init(px);
	ret = proxy_tls__init(px, err);
	if (!ret)
		ret = pworkers__start(px, o->workers, err);
	if (ret) {
		proxy__free(px);
		return ret;
	}
	*out = px;
	return 0;
}

void proxy__free(struct proxy *px)
{
	if (!px)
		return;
	pworkers__stop(px);
	pconn__close_all(px);
	proxy__unserve_all(px);
	proxy__adopt_done(px);
	proxy_tls__fini(px);
	free(px);
}

void proxy__tick(struct proxy *px)
{
	pconn__tick(px);
	proxy_tls__refresh_trust(px);
	tunnel__expire(px, clock__mono_s());
}

void proxy__status(const struct proxy *px, struct proxy_status *st)
{
	const struct proxy_admit *adm = &px->adm;
	const struct pconn *c;

	memset(st, 0, sizeof(*st));
	/* A mesh connection between streams waits for the next OPEN: it is
	 * idle, like the pooled ones of the client side. */
	for (c = px->conns; c; c = c->next)
		st->idle_mesh += c->st == PS_OPEN && c->stream > 1;
	st->connections = px->nconns - st->idle_mesh;
	st->idle_mesh += px->nidle;
	st->port_taken = px->port_taken;
	st->workers = pworkers__count(px);
	pworkers__handshakes(px, st->hs_done, st->hs_failed, PROXY_WORKERS_MAX);
	st->fd_limit = fdlimit__max();
	st->fd_reserve = adm->reserve;
	st->pending = adm->npending;
	st->pending_max = adm->pending_max;
	st->peer_max = adm->peer_max;
	st->under_pressure = admit__pressure(px);
	st->handshake_timeout_s = st->under_pressure ? PROXY_HANDSHAKE_BUSY :
				  PROXY_HANDSHAKE_TIMEOUT;
	admit__shed_counts(adm, st->shed);
	st->netns_served = px->nserved;
	st->netns_max = px->opts.max_netns;
	st->netns_refused = px->netns_refused;
}
