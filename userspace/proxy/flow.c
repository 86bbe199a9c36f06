// SPDX-License-Identifier: Apache-2.0
/*
 * The flow record of a proxied connection: opened at accept, filled in as
 * the connection learns who is at each end and what was decided, closed
 * with its byte counts. The records are the daemon's (struct proxy_env):
 * a record pushed out of its ring meanwhile is simply no longer updated.
 * Watchers (flow watch) hear of each step that changes what they show.
 */
#include <stdio.h>
#include <string.h>

#include "userspace/proxy/proxy_int.h"

static const enum flow_type kind_types[] = {
	[PCONN_OUTBOUND] = FLOW_OUTBOUND,
	[PCONN_MESH] = FLOW_INBOUND,
	[PCONN_PLAIN_IN] = FLOW_INBOUND_PLAINTEXT,
	[PCONN_EGRESS] = FLOW_EGRESS,
	[PCONN_DIRECT] = FLOW_INBOUND,
};

static struct flow_record *flow_of(struct pconn *c)
{
	const struct proxy_env *env = &c->px->env;

	return c->flow_id ? env->flow(env->ctx, c->flow_id) : NULL;
}

/* The record holds its own reference on each interned ID. */
static void set_id(struct pconn *c, const struct spiffe_id **slot,
		   const struct spiffe_id *id)
{
	struct spiffe_ids *ids = c->px->env.ids;
	const struct spiffe_id *held = id ? spiffe_ids__get(ids, id) : NULL;

	spiffe_ids__put(ids, *slot);
	*slot = held;
}

static void set_ids(struct pconn *c, struct flow_record *f)
{
	if (c->src)
		set_id(c, &f->src_id, c->src);
	if (c->dst)
		set_id(c, &f->dst_id, c->dst);
}

void pflow__open(struct pconn *c, struct workload *who)
{
	const struct proxy_env *env = &c->px->env;
	struct flow_record *f = env->flow_open(env->ctx);

	if (!f)
		return;
	f->type = kind_types[c->kind];
	snprintf(f->ns, sizeof(f->ns), "%s", c->ns);
	f->mode = c->mode;
	/* The workload's view: who called, whom it dialled. */
	if (!nt_addr__of_socket(c->a.h.fd, true, &f->src))
		f->has |= FLOW_HAS_SRC;
	if (c->kind == PCONN_OUTBOUND) {
		/* Until side B connects, the source is the workload's leg. */
		f->redirect_src = f->src;
		f->has |= FLOW_HAS_REDIRECT_SRC;
		f->dst = c->orig_dst;
		f->has |= FLOW_HAS_DST;
	} else if (!nt_addr__of_socket(c->a.h.fd, false, &f->dst)) {
		f->has |= FLOW_HAS_DST;
	}
	f->who_key = FLOW_WHO_CALLER;
	f->who = who;
	set_ids(c, f);
	f->transport = FLOW_MTLS;
	f->state = "open";
	c->flow_id = f->id;
}

/*
 * An outbound flow's source: the address its bytes leave the pod from
 * (side B's, the one the destination records), not the workload's
 * loopback leg to the redirect target. A stream on a reused connection
 * shares its source.
 */
void pflow__wire_src(struct pconn *c)
{
	struct flow_record *f = flow_of(c);

	if (f && !nt_addr__of_socket(c->b.h.fd, false, &f->src))
		f->has |= FLOW_HAS_SRC;
}

void pflow__reason(struct pconn *c, const char *why)
{
	struct flow_record *f = flow_of(c);

	if (f && why)
		snprintf(f->reason, sizeof(f->reason), "%s", why);
}

void pflow__namespace(struct pconn *c)
{
	struct flow_record *f = flow_of(c);

	if (!f)
		return;
	snprintf(f->ns, sizeof(f->ns), "%s", c->ns);
	f->mode = c->mode;
}

enum flow_verdict proxy__flow_verdict(const struct decision *d)
{
	if (d->enforced)
		return d->verdict == VERDICT_ALLOW ? FLOW_ALLOW : FLOW_DENY;
	return d->verdict == VERDICT_ALLOW ? FLOW_WOULD_ALLOW : FLOW_WOULD_DENY;
}

void pflow__verdict(struct pconn *c, const struct decision *d)
{
	struct flow_record *f = flow_of(c);

	if (!f)
		return;
	f->verdict = proxy__flow_verdict(d);
	snprintf(f->reason, sizeof(f->reason), "%s", d->reason);
	snprintf(f->ns, sizeof(f->ns), "%s", c->ns);
	f->mode = c->mode;
	set_ids(c, f);
}

/*
 * The peer's verdict. A peer whose destination is in observe or
 * permissive lets the stream through and says what strict would have
 * decided: "ALLOW would-deny: <reason>" (wire.c, proxy__dry_run).
 */
void pflow__peer_verdict(struct pconn *c, bool allow, const char *reason)
{
	struct flow_record *f = flow_of(c);
	bool would_allow;

	if (!f)
		return;
	f->verdict = allow ? FLOW_ALLOW : FLOW_DENY;
	if (allow && proxy__dry_run_parse(&reason, &would_allow))
		f->verdict = would_allow ? FLOW_WOULD_ALLOW : FLOW_WOULD_DENY;
	if (reason[0])
		snprintf(f->reason, sizeof(f->reason), "%s", reason);
}

void pflow__svid(struct pconn *c, const struct svid *svid)
{
	struct flow_record *f = flow_of(c);

	if (!f)
		return;
	x509__serial_hex(svid->leaf, f->svid_serial, sizeof(f->svid_serial));
	x509__validity(svid->leaf, NULL, &f->svid_not_after);
	f->has |= FLOW_HAS_SVID;
}

void pflow__egress(struct pconn *c, const char *why)
{
	struct flow_record *f = flow_of(c);

	if (!f)
		return;
	f->type = FLOW_EGRESS;
	f->transport = FLOW_PLAINTEXT;
	f->fallback = why;
}

void pflow__plaintext(struct pconn *c)
{
	struct flow_record *f = flow_of(c);

	if (f)
		f->transport = FLOW_PLAINTEXT;
}

void pflow__tls(struct pconn *c)
{
	struct flow_record *f = flow_of(c);

	if (!f || !c->tls_version)
		return;
	f->tls_version = c->tls_version;
	f->cipher = c->cipher;
	/* The stream's place on its TLS connection: 1 paid the handshake. */
	f->stream = c->stream;
	f->handshake_ms = c->stream == 1 ? c->handshake_ms : 0;
	f->has |= FLOW_HAS_TLS;
	set_ids(c, f);
}

void pflow__ktls(struct pconn *c, bool on)
{
	struct flow_record *f = flow_of(c);

	if (!f)
		return;
	f->ktls = on;
	f->has |= FLOW_HAS_KTLS;
}

void pflow__splice(struct pconn *c)
{
	struct flow_record *f = flow_of(c);

	if (!f)
		return;
	f->splice = true;
	f->has |= FLOW_HAS_SPLICE;
}

/*
 * Same-node direct: the caller's outbound record was opened at accept, as
 * on the mTLS path; an inbound record, as the mesh end would have opened,
 * now becomes the connection's own (its namespace is the destination's,
 * whose verdict it carries), and the outbound one follows it (mirror).
 */
void pflow__direct(struct pconn *c, const struct nt_addr *wire_src)
{
	const struct proxy_env *env = &c->px->env;
	struct flow_record *out = flow_of(c), *in;

	if (out) {
		out->src = *wire_src;
		out->has |= FLOW_HAS_SRC;
		out->transport = FLOW_SAME_NODE;
		set_ids(c, out);
	}
	c->peer_flow_id = c->flow_id;
	c->flow_id = 0;
	in = env->flow_open(env->ctx);
	if (!in)
		return;
	/* Looked up again: opening one may have pushed the other out. */
	out = c->peer_flow_id ? env->flow(env->ctx, c->peer_flow_id) : NULL;
	in->type = FLOW_INBOUND;
	in->src = *wire_src;
	in->dst = c->orig_dst;
	in->has |= FLOW_HAS_SRC | FLOW_HAS_DST;
	in->who_key = FLOW_WHO_CALLER;	/* unknown at a mesh end: null */
	in->transport = FLOW_SAME_NODE;
	in->state = "open";
	c->flow_id = in->id;
	if (!out)
		c->peer_flow_id = 0;
	pflow__namespace(c);
	set_ids(c, in);
}

/* The outbound record of a direct connection says what its inbound one
 * says: the verdict, why, how it ended, the bytes. */
static void mirror(struct pconn *c)
{
	const struct proxy_env *env = &c->px->env;
	struct flow_record *in = flow_of(c), *out;
	const uint32_t copied = FLOW_HAS_BYTES | FLOW_HAS_SPLICE;

	out = c->peer_flow_id ? env->flow(env->ctx, c->peer_flow_id) : NULL;
	if (!in || !out)
		return;
	out->verdict = in->verdict;
	memcpy(out->reason, in->reason, sizeof(out->reason));
	out->state = in->state;
	out->bytes_up = in->bytes_up;
	out->bytes_down = in->bytes_down;
	out->splice = in->splice;
	out->has |= in->has & copied;
	env->flow_publish(env->ctx, c->peer_flow_id);
}

void pflow__publish(struct pconn *c)
{
	const struct proxy_env *env = &c->px->env;

	if (c->peer_flow_id)
		mirror(c);
	if (c->flow_id)
		env->flow_publish(env->ctx, c->flow_id);
}

void pflow__close(struct pconn *c, const char *state)
{
	struct flow_record *f = flow_of(c);

	if (!f)
		return;
	f->state = state;
	f->bytes_up = c->bytes_up;
	f->bytes_down = c->bytes_down;
	f->has |= FLOW_HAS_BYTES;
	if (f->verdict == FLOW_VERDICT_NONE)
		f->verdict = FLOW_DENY;
	pflow__publish(c);
}

void pflow__adopted(struct pconn *c, uint32_t pid, enum flow_verdict v,
		    const char *reason)
{
	struct flow_record *f = flow_of(c);

	if (!f)
		return;
	f->handed_from = pid;
	f->verdict = v;
	snprintf(f->reason, sizeof(f->reason), "%s", reason);
}
