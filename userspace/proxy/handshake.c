// SPDX-License-Identifier: Apache-2.0
/*
 * The TLS handshake of a proxied connection, either end: what it proved
 * (the peer's SPIFFE ID, NT1 or NT2), then the record layer handed to the
 * kernel where it has kTLS, then the verdict exchange.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>

#include <openssl/err.h>

#include "userspace/proxy/proxy_int.h"

/*
 * OpenSSL keeps the record layer: let it read ahead, several records per
 * read() instead of a header read and a body read per record. (Never
 * before a kTLS switch: nothing past Finished may be consumed then.)
 */
static void userspace_records(SSL *ssl)
{
	SSL_set_read_ahead(ssl, 1);
}

/*
 * Hands the record layer to the kernel where it can take it. Returns false
 * when the connection is unusable: a failure after TCP_ULP was set leaves
 * the socket half-switched (proxy.h, kTLS).
 */
static bool try_ktls(struct pconn *c, bool server)
{
	struct nt_err err = {};
	int ret;

	if (c->px->opts.no_ktls || !ktls__available()) {
		userspace_records(c->tls->ssl);
		return true;
	}
	ret = ktls__install(c->tls->ssl, c->tls->h.fd, server, &err);
	switch (ret) {
	case 0:
		/* The kernel owns the record layer; OpenSSL is done. */
		SSL_free(c->tls->ssl);
		c->tls->ssl = NULL;
		c->tls->ktls = true;
		return true;
	case -ENOPROTOOPT:
	case -EOPNOTSUPP:
	case -EBUSY:
	case -ENOKEY:
	case -EINVAL:
		pr_debug("kTLS not used, OpenSSL carries on: %s", err.msg);
		userspace_records(c->tls->ssl);
		return true;
	default:
		pr_warn("kTLS switch failed mid-way: %s", err.msg);
		return false;
	}
}

/* The peer proxy answered unrecognized_name: no enrolled workload listens on
 * that port there, which is a destination without mTLS, not an attack. */
static bool unenrolled_peer(void)
{
	unsigned long e;
	bool found = false;

	while ((e = ERR_get_error()))
		if (ERR_GET_REASON(e) == SSL_R_TLSV1_UNRECOGNIZED_NAME)
			found = true;
	return found;
}

/* Why a handshake failed, for the flow (into c->hs_why): our own
 * verification's words, else OpenSSL's ("unsupported protocol", "peer did
 * not return a certificate"), else how the connection ended. Reads this
 * thread's error queue. */
static void handshake_error(struct pconn *c, SSL *ssl, int ssl_err)
{
	const char *r = proxy_tls__verify_error(ssl);
	unsigned long l = ERR_peek_last_error();

	if (!r[0] && l && ERR_GET_REASON(l) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		r = "no client certificate (the peer did not return a certificate)";
	if (!r[0])
		r = l ? ERR_reason_error_string(l) : NULL;
	if (!r)
		r = ssl_err == SSL_ERROR_SYSCALL ? "connection closed by the peer" :
		    "unknown error";
	snprintf(c->hs_why, sizeof(c->hs_why), "TLS handshake failed: %s", r);
}

/* Server side: the listener's namespace and mode, as soon as the
 * ClientHello named it, so even a failed handshake's flow shows them. */
static void listener_ns(struct pconn *c, SSL *ssl)
{
	enum nt_mode mode;
	const char *ns = proxy_tls__local_ns(ssl, &mode);

	if (!ns)
		return;
	snprintf(c->ns, sizeof(c->ns), "%s", ns);
	c->mode = mode;
	pflow__namespace(c);
}

/* What the flows of every stream on this connection say about it; read
 * before a switch to kTLS frees the SSL object. */
static void record_tls(struct pconn *c, struct side *s)
{
	c->tls_version = SSL_get_version(s->ssl);
	c->cipher = SSL_get_cipher_name(s->ssl);
	c->handshake_ms = (double)(c->t_hs - c->t_start) / 1e6;
	c->reuse_until = clock__mono_s() + proxy_tls__reuse_left(s->ssl);
	c->trust_gen = proxy_tls__trust_gen(s->ssl);
	c->stream = 1;
	s->framed = proxy_tls__framed(s->ssl);
}

/* The handshake failed (c->hs_why says why), on the main thread. */
static void handshake_failed(struct pconn *c)
{
	bool server = c->kind == PCONN_MESH;

	if (!server && c->hs_unenrolled) {
		pconn__outbound_fallback(c, "the destination port has no enrolled listener (its node runs nametag)");
		return;
	}
	if (server) {
		admit__sample_flow(c);
		listener_ns(c, c->tls->ssl);
	}
	pflow__reason(c, c->hs_why);
	pconn__close(c, true, "handshake failed");
}

/* The handshake succeeded, on the main thread: what it proved, kTLS,
 * then the verdict exchange. */
static void handshake_succeeded(struct pconn *c)
{
	struct side *s = c->tls;
	bool server = c->kind == PCONN_MESH;
	const struct spiffe_id *peer;

	/* The peer proved itself: no longer pending. Accepted under
	 * pressure, its flow record starts now. */
	admit__done(c);
	if (server && !c->flow_id)
		pflow__open(c, NULL);
	record_tls(c, s);
	if (server) {
		c->port = proxy_tls__orig_port(s->ssl);
		listener_ns(c, s->ssl);
	}
	peer = proxy_tls__peer_id(s->ssl);
	if (peer && pconn__hold_id(c, server ? &c->src : &c->dst, peer, NULL)) {
		pconn__close(c, true, "out of memory");
		return;
	}
	/* The server's streams may only reach the workload it presented. */
	if (server && proxy_tls__local_id(s->ssl) &&
	    pconn__hold_id(c, &c->tunnel_id, proxy_tls__local_id(s->ssl), NULL)) {
		pconn__close(c, true, "out of memory");
		return;
	}
	proxy_tls__handshake_done(s->ssl);
	if (!try_ktls(c, server)) {
		pflow__reason(c, "kTLS switch failed");
		pconn__close(c, true, "error");
		return;
	}
	/* Watchers hear of the flow with its verdict, not before. */
	pflow__tls(c);
	pflow__ktls(c, s->ktls);
	if (!server) {
		pconn__open_stream(c);
		return;
	}
	if (!s->framed) {
		pconn__mesh_verdict(c);
		return;
	}
	c->st = PS_OPEN;
	pconn__read_open(c);
}

/* The handshake is over, either way: on a relay thread, the connection
 * goes back to the main thread, which goes on from there. */
static void handshake_over(struct pconn *c, bool ok)
{
	c->hs_failed = !ok;
	if (c->away) {
		pworker__handshake_over(c, ok);
		return;
	}
	if (ok)
		handshake_succeeded(c);
	else
		handshake_failed(c);
}

/*
 * One step of the handshake, on whichever thread holds the connection.
 * With relay threads, the client's whole handshake runs on one (from its
 * first flight); the server's from the ClientHello on, once the main
 * thread has looked up who listens (tls.c, client_hello).
 */
void pconn__handshake(struct pconn *c)
{
	struct side *s = c->tls;
	bool server = c->kind == PCONN_MESH;
	int ret, e;

	if (!server && !c->away && pworkers__give(c))
		return;
again:
	s->want_in = s->want_out = false;
	ret = server ? SSL_accept(s->ssl) : SSL_connect(s->ssl);
	if (ret == 1) {
		c->t_hs = clock__mono_ns();
		handshake_over(c, true);
		return;
	}
	e = SSL_get_error(s->ssl, ret);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (side__register(s, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT) &&
		    c->away)
			pworker__give_back(c, RELAY_EPOLL);
		return;
	}
	/* The ClientHello was looked up here: the rest on a relay thread
	 * (here after all when none takes it: a recall). */
	if (e == SSL_ERROR_WANT_CLIENT_HELLO_CB) {
		if (c->away || !pworkers__give(c))
			goto again;
		return;
	}
	handshake_error(c, s->ssl, e);
	c->hs_unenrolled = !server && unenrolled_peer();
	/* OpenSSL's error queue is the thread's: left there, these errors
	 * would turn the next connection's WANT_READ into a failure
	 * (SSL_get_error peeks the queue). */
	ERR_clear_error();
	handshake_over(c, false);
}

/* A connection whose handshake ran on a relay thread is back. */
void pconn__handshake_back(struct pconn *c, enum relay_end end)
{
	switch (end) {
	case RELAY_HANDSHAKE:
		if (c->hs_failed)
			handshake_failed(c);
		else
			handshake_succeeded(c);
		break;
	case RELAY_RUNNING:
	case RELAY_RECALLED:	/* goes on here */
		pconn__handshake(c);
		break;
	default:
		pflow__reason(c, "handshake failed: epoll failed");
		pconn__close(c, true, "error");
		break;
	}
}
