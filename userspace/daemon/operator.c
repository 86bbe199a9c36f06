// SPDX-License-Identifier: Apache-2.0
/*
 * The operator's side of nametagd, started and stopped as one piece: the
 * metrics endpoint (--metrics), the audit log (--audit-log) and what feeds
 * them from the rest of the daemon (the SVID cache's mints). main.c calls
 * operator__open once the loop exists, operator__tick once a second and
 * operator__reopen on SIGHUP.
 */
#include <errno.h>
#include <stdio.h>

#include "userspace/daemon/daemon.h"

static void on_minted(const struct svid *s, void *arg)
{
	struct daemon *d = arg;

	metrics__svid_issued(d->metrics);
	audit__svid(d, s);
}

int operator__open(struct daemon *d, struct nt_err *err)
{
	int ret;

	d->start_real_ns = clock__real_ns();
	d->start_mono_ns = clock__mono_ns();
	if (metrics__new(&d->metrics))
		return nt_err_set(err, -ENOMEM, "out of memory");
	svid_cache__on_mint(d->svids, on_minted, d);
	ret = audit__open(d, err);
	if (!ret && d->opts.metrics)
		ret = metrics_http__open(d, d->opts.metrics, err);
	return ret;
}

void operator__tick(struct daemon *d)
{
	metrics_http__tick(d);
	audit__flush(d);
}

void operator__reopen(struct daemon *d)
{
	audit__reopen(d);
}

void operator__close(struct daemon *d)
{
	metrics_http__close(d);
	audit__close(d);
	metrics__free(d->metrics);
	d->metrics = NULL;
}
