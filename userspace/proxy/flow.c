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

static void fmt_addr(const struct nt_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	bool v4 = !a->addr[0] && !a->addr[1] && a->addr[2] == htonl(0xffff);

	inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? (void *)&a->addr[3] :
		  (void *)a->addr, ip, sizeof(ip));
	snprintf(buf, size, v4 ? "%s:%u" : "[%s]:%u", ip, a->port);
}

static void put_addr(cJSON *f, const char *key, int fd, bool peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct nt_addr a = {};
	char buf[80];

	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len))
		return;
	if (ss.ss_family == AF_INET) {
		a.addr[2] = htonl(0xffff);
		a.addr[3] = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
		a.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else {
		memcpy(a.addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		a.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	fmt_addr(&a, buf, sizeof(buf));
	put(f, key, cJSON_CreateString(buf));
}

void pflow__open(struct pconn *c, cJSON *caller)
{
	cJSON *f = cJSON_CreateObject();
	char buf[80], ts[40];
	struct timespec now;
	struct tm tm;

	if (!f) {
		cJSON_Delete(caller);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, sizeof(buf), "%s.%03ldZ", ts, now.tv_nsec / 1000000);
	cJSON_AddStringToObject(f, "time", buf);
	cJSON_AddStringToObject(f, "type", kind_names[c->kind]);
	cJSON_AddStringToObject(f, "namespace", c->ns);
	cJSON_AddStringToObject(f, "mode", mode__name(c->mode));
	/* The workload's view: who called, whom it dialled. */
	put_addr(f, "src", c->a.h.fd, true);
	if (c->kind == PCONN_OUTBOUND) {
		fmt_addr(&c->orig_dst, buf, sizeof(buf));
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
