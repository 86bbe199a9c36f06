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

/* Why a handshake failed, for the flow: our own verification's words, else
 * OpenSSL's ("unsupported protocol", "peer did not return a certificate"),
 * else how the connection ended. */
static const char *handshake_error(SSL *ssl, int ssl_err)
{
	static char why[NT_ERR_MSG_MAX];
	const char *r = proxy_tls__verify_error(ssl);
	unsigned long l = ERR_peek_last_error();

	if (!r[0] && l && ERR_GET_REASON(l) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		r = "no client certificate (the peer did not return a certificate)";
	if (!r[0])
		r = l ? ERR_reason_error_string(l) : NULL;
	if (!r)
		r = ssl_err == SSL_ERROR_SYSCALL ? "connection closed by the peer" :
		    "unknown error";
	snprintf(why, sizeof(why), "TLS handshake failed: %s", r);
	return why;
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
	c->trust_gen = c->px->tls.trust_gen;
	c->stream = 1;
	s->framed = proxy_tls__framed(s->ssl);
}

void pconn__handshake(struct pconn *c)
{
	struct side *s = c->tls;
	bool server = c->kind == PCONN_MESH;
	const struct spiffe_id *peer;
	const char *why;
	int ret;

	s->want_in = s->want_out = false;
	ret = server ? SSL_accept(s->ssl) : SSL_connect(s->ssl);
	if (ret != 1) {
		int e = SSL_get_error(s->ssl, ret);

		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			side__register(s, e == SSL_ERROR_WANT_READ ? EPOLLIN :
				       EPOLLOUT);
			return;
		}
		why = handshake_error(s->ssl, e);
		if (!server && unenrolled_peer()) {
			pconn__outbound_fallback(c, "the destination port has no enrolled listener (its node runs nametag)");
			return;
		}
		/* The daemon's one thread shares OpenSSL's error queue: left
		 * there, these errors would turn the next connection's
		 * WANT_READ into a failure (SSL_get_error peeks the queue). */
		ERR_clear_error();
		if (server) {
			admit__sample_flow(c);
			listener_ns(c, s->ssl);
		}
		pflow__reason(c, why);
		pconn__close(c, true, "handshake failed");
		return;
	}
	c->t_hs = clock__mono_ns();
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
