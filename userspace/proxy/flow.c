// SPDX-License-Identifier: Apache-2.0
/*
 * The flow record of a proxied connection: created at accept, filled in as
 * the connection learns who is at each end and what was decided, closed
 * with its byte counts. Watchers (flow watch) see each change.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "userspace/proxy/proxy_int.h"

static const char *const kind_names[] = {
	[PCONN_OUTBOUND] = "outbound",
	[PCONN_MESH] = "inbound",
	[PCONN_PLAIN_IN] = "inbound-plaintext",
	[PCONN_EGRESS] = "egress",
};

static cJSON *flow_of(struct pconn *c)
{
	return c->flow_id ? flows__get(nd->flows, c->flow_id) : NULL;
}

static void put(cJSON *f, const char *key, cJSON *v)
{
	if (cJSON_GetObjectItemCaseSensitive(f, key))
		cJSON_ReplaceItemInObjectCaseSensitive(f, key, v);
	else
		cJSON_AddItemToObject(f, key, v);
}

static void put_addr(cJSON *f, const char *key, int fd, bool peer)
{
	char buf[NT_ADDR_TEXT_MAX];
	struct nt_addr a;

	if (nt_addr__of_socket(fd, peer, &a))
		return;
	nt_addr__format(&a, buf, sizeof(buf));
	put(f, key, cJSON_CreateString(buf));
}

void pflow__open(struct pconn *c, cJSON *caller)
{
	cJSON *f = cJSON_CreateObject();
	char buf[TIME_ISO8601_MAX];

	if (!f) {
		cJSON_Delete(caller);
		return;
	}
	time__iso8601_ms(clock__real_ns(), buf, sizeof(buf));
	cJSON_AddStringToObject(f, "time", buf);
	cJSON_AddStringToObject(f, "type", kind_names[c->kind]);
	cJSON_AddStringToObject(f, "namespace", c->ns);
	cJSON_AddStringToObject(f, "mode", mode__name(c->mode));
	/* The workload's view: who called, whom it dialled. */
	put_addr(f, "src", c->a.h.fd, true);
	if (c->kind == PCONN_OUTBOUND) {
		nt_addr__format(&c->orig_dst, buf, sizeof(buf));
		cJSON_AddStringToObject(f, "dst", buf);
	} else {
		put_addr(f, "dst", c->a.h.fd, false);
	}
	cJSON_AddItemToObject(f, "caller", caller ? caller : cJSON_CreateNull());
	cJSON_AddItemToObject(f, "src_spiffe_id", c->src ?
			      cJSON_CreateString(c->src->str) : cJSON_CreateNull());
	cJSON_AddNullToObject(f, "dst_spiffe_id");
	cJSON_AddStringToObject(f, "transport", "mtls");
	cJSON_AddStringToObject(f, "state", "open");
	c->flow_id = flows__add(nd->flows, f);
}

void pflow__set(struct pconn *c, const char *key, const char *value)
{
	cJSON *f = flow_of(c);

	if (f && value)
		put(f, key, cJSON_CreateString(value));
}

void pflow__verdict(struct pconn *c, const struct decision *d)
{
	cJSON *f = flow_of(c);
	const char *v;

	if (!f)
		return;
	if (d->verdict == VERDICT_ALLOW)
		v = "allow";
	else
		v = d->enforced ? "deny" : "would-deny";
	put(f, "verdict", cJSON_CreateString(v));
	put(f, "reason", cJSON_CreateString(d->reason));
	put(f, "namespace", cJSON_CreateString(c->ns));
	put(f, "mode", cJSON_CreateString(mode__name(c->mode)));
	if (c->src)
		put(f, "src_spiffe_id", cJSON_CreateString(c->src->str));
	if (c->dst)
		put(f, "dst_spiffe_id", cJSON_CreateString(c->dst->str));
}

void pflow__tls(struct pconn *c)
{
	cJSON *f = flow_of(c);

	if (!f || !c->tls_version)
		return;
	put(f, "tls_version", cJSON_CreateString(c->tls_version));
	put(f, "cipher", cJSON_CreateString(c->cipher));
	/* The stream's place on its TLS connection: 1 paid the handshake. */
	put(f, "stream", cJSON_CreateNumber(c->stream));
	put(f, "handshake_ms", cJSON_CreateNumber(c->stream == 1 ?
						  c->handshake_ms : 0));
	if (c->src)
		put(f, "src_spiffe_id", cJSON_CreateString(c->src->str));
	if (c->dst)
		put(f, "dst_spiffe_id", cJSON_CreateString(c->dst->str));
}

void pflow__flag(struct pconn *c, const char *key, bool on)
{
	cJSON *f = flow_of(c);

	if (f)
		put(f, key, cJSON_CreateBool(on));
}

void pflow__ktls(struct pconn *c, bool on)
{
	cJSON *f = flow_of(c);

	if (!f)
		return;
	put(f, "ktls_tx", cJSON_CreateBool(on));
	put(f, "ktls_rx", cJSON_CreateBool(on));
}

void pflow__publish(struct pconn *c)
{
	flows__publish(nd->flows, c->flow_id);
}

void pflow__close(struct pconn *c, const char *state)
{
	cJSON *f = flow_of(c);

	if (!f)
		return;
	put(f, "state", cJSON_CreateString(state));
	put(f, "bytes_up", cJSON_CreateNumber((double)c->bytes_up));
	put(f, "bytes_down", cJSON_CreateNumber((double)c->bytes_down));
	if (!cJSON_GetObjectItem(f, "verdict"))
		put(f, "verdict", cJSON_CreateString("deny"));
	pflow__publish(c);
}
