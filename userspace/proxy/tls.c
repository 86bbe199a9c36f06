// SPDX-License-Identifier: Apache-2.0
/*
 * TLS for the node proxy: TLS 1.3 only, AES-GCM suites, no tickets, no
 * resumption, no early data. Peers are verified with the SPIFFE rules of
 * ca/ (svid__verify against the bundle of the peer's own trust domain),
 * not OpenSSL's hostname logic: the identity is the URI SAN.
 *
 * The server learns which port the client's workload dialled from SNI
 * ("p<port>.nametag.invalid") and presents the SVID of the workload that
 * listens on that port, chosen in the ClientHello callback before its
 * Certificate message is built.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "userspace/proxy/proxy_int.h"

#define TLS_SUITES	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
#define TLS_GROUPS	"X25519:P-256"
#define VERIFY_SKEW	5	/* seconds of clock skew between nodes */

/*
 * The trust bundles a handshake verifies with. A bundle set is never
 * changed once loaded; a reload makes a new one and swaps the pointer.
 * Each SSL object holds a reference to the set in force when it was made,
 * and verifies with that set wherever its handshake runs (a relay thread,
 * worker.c): the old set is freed by whoever drops its last reference.
 */
struct trust_ref {
	_Atomic unsigned int refs;
	struct bundle_set *set;
	unsigned int gen;
};

struct tls_state {
	struct trust_ref *trust;	/* held */
	/* Server side: the ClientHello's lookups ran (on the main thread);
	 * @defer: the rest of the handshake goes to a relay thread. */
	bool resolved, defer;
	struct spiffe_id peer;
	bool peer_ok;
	char verify_error[sizeof(((struct nt_err *)0)->msg)];
	struct spiffe_id local;
	bool has_local;
	char local_ns[NT_NS_NAME_MAX];	/* the listener's namespace, and */
	enum nt_mode local_mode;	/* its mode (server side) */
	uint16_t orig_port;
	uint32_t netns;
};

/* The SSL ex_data slot of struct tls_state: one per process. */
static int state_idx = -1;

/* ALPN, length-prefixed: NT2 frames streams so a connection is reused. */
static const unsigned char alpn_nt2[] = "\x03nt2";

static struct tls_state *state_of(SSL *ssl)
{
	return SSL_get_ex_data(ssl, state_idx);
}

static struct trust_ref *trust_get(struct trust_ref *t)
{
	if (t)
		atomic_fetch_add(&t->refs, 1);
	return t;
}

static void trust_put(struct trust_ref *t)
{
	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	bundle_set__free(t->set);
	free(t);
}

static void state_free(struct tls_state *st)
{
	if (!st)
		return;
	trust_put(st->trust);
	free(st);
}

static void free_state(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		       long argl, void *argp)
{
	state_free(ptr);
}

/* ---- trust ---------------------------------------------------------------- */

static void stat_mtime(const char *dir, const char *rel, struct timespec *ts)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (stat(path, &st))
		memset(ts, 0, sizeof(*ts));
	else
		*ts = st.st_mtim;
}

/* The CLI edits bundles in the state dir (bundle add/del, ca rotate); pick
 * the change up. A bundle that fails to load keeps the previous set: the
 * error is loud and nothing falls open. */
void proxy_tls__refresh_trust(struct proxy *px)
{
	struct proxy_tls *t = &px->tls;
	const char *dir = px->opts.state_dir;
	struct timespec now[2];
	struct bundle_set *set;
	struct trust_ref *ref;
	struct nt_err err = {};

	stat_mtime(dir, STATE_BUNDLE_FILE, &now[0]);
	stat_mtime(dir, STATE_FEDERATION_DIR, &now[1]);
	if (t->trust && !memcmp(now, t->trust_mtime, sizeof(now)))
		return;
	if (trust__load(dir, &set, &err)) {
		pr_warn("trust bundles not reloaded: %s", err.msg);
		return;
	}
	ref = calloc(1, sizeof(*ref));
	if (!ref) {
		bundle_set__free(set);
		pr_warn("trust bundles not reloaded: out of memory");
		return;
	}
	/* The proxy's reference; handshakes in flight keep the old set. */
	atomic_init(&ref->refs, 1);
	ref->set = set;
	ref->gen = ++t->trust_gen;
	trust_put(t->ref);
	t->ref = ref;
	t->trust = set;
	memcpy(t->trust_mtime, now, sizeof(now));
	pr_debug("trust bundles loaded: %zu trust domains",
		 bundle_set__count(t->trust));
}

const struct bundle_set *proxy__trust(const struct proxy *px,
				      unsigned int *gen)
{
	if (gen)
		*gen = px->tls.trust_gen;
	return px->tls.trust;
}

/* ---- verification ---------------------------------------------------------- */

static int verify_peer(X509_STORE_CTX *xs, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs,
					      SSL_get_ex_data_X509_STORE_CTX_idx());
	struct svid_verify_opts opts = { .now = time(NULL), .skew = VERIFY_SKEW };
	struct tls_state *st = ssl ? state_of(ssl) : NULL;
	struct nt_err err = {};
	int ret;

	/* The connection's own set, not the proxy's: this may run on a
	 * relay thread while the main thread loads a new one. */
	if (!st || !st->trust) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	ret = svid__verify(X509_STORE_CTX_get0_cert(xs),
			   X509_STORE_CTX_get0_untrusted(xs), st->trust->set,
			   &opts, &st->peer, &err);
	if (ret) {
		/* The cause first, in an operator's words, then the detail. */
		snprintf(st->verify_error, sizeof(st->verify_error), "%s: %.*s",
			 svid__failure_cause(ret, err.msg),
			 (int)sizeof(st->verify_error) - 64, err.msg);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	st->peer_ok = true;
	return 1;
}

/* ---- SVIDs on a connection ------------------------------------------------- */

static int use_svid(SSL *ssl, const struct svid *s)
{
	int i;

	if (SSL_use_certificate(ssl, s->leaf) != 1 ||
	    SSL_use_PrivateKey(ssl, s->key) != 1)
		return -EINVAL;
	SSL_clear_chain_certs(ssl);
	for (i = 0; i < sk_X509_num(s->intermediates); i++)
		if (SSL_add1_chain_cert(ssl, sk_X509_value(s->intermediates, i)) != 1)
			return -EINVAL;
	return 0;
}

/*
 * Picks the SVID to present: that of the workload listening on the
 * address the client dialled (this connection's local address) at the
 * port its workload asked for (SNI). The same listener lookup decides the
 * verdict later, and the stream is refused if it no longer names the same
 * identity.
 */
static int resolve_hello(SSL *ssl, struct tls_state *st, int *alert, void *arg)
{
	struct proxy_listener pl;
	const unsigned char *ext;
	const struct svid *svid;
	struct nt_err err = {};
	struct nt_addr local;
	size_t len;

	*alert = SSL_AD_UNRECOGNIZED_NAME;
	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) ||
	    proxy__sni_port(ext, len, &st->orig_port)) {
		snprintf(st->verify_error, sizeof(st->verify_error),
			 "client sent no nametag SNI");
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (nt_addr__of_socket(SSL_get_fd(ssl), false, &local)) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	local.port = st->orig_port;
	if (proxy__listener(arg, st->netns, &local, &pl, &svid, &err)) {
		snprintf(st->verify_error, sizeof(st->verify_error), "%s",
			 err.msg);
		return SSL_CLIENT_HELLO_ERROR;
	}
	st->local = pl.id;
	st->has_local = true;
	snprintf(st->local_ns, sizeof(st->local_ns), "%s", pl.ns);
	st->local_mode = pl.mode;
	if (use_svid(ssl, svid)) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* The ClientHello callback: on the main thread the first time. */
static int client_hello(SSL *ssl, int *alert, void *arg)
{
	struct tls_state *st = state_of(ssl);
	int ret;

	/* Called again after a RETRY, on the relay thread: the lookups are
	 * done; and after a HelloRetryRequest: the first answer holds. */
	if (st->resolved)
		return SSL_CLIENT_HELLO_SUCCESS;
	ret = resolve_hello(ssl, st, alert, arg);
	if (ret != SSL_CLIENT_HELLO_SUCCESS)
		return ret;
	st->resolved = true;
	/* The daemon was asked here, on the main thread; the CPU of the
	 * handshake (key exchange, signature, the client's chain) is for a
	 * relay thread: SSL_accept() stops with WANT_CLIENT_HELLO_CB. */
	return st->defer ? SSL_CLIENT_HELLO_RETRY : SSL_CLIENT_HELLO_SUCCESS;
}

/* Picks NT2 when the client offers it; a client that offers nothing
 * (openssl s_client, an older proxy) gets NT1. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct proxy *px = arg;
	unsigned char *sel;

	if (px->opts.no_mesh_reuse)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_select_next_proto(&sel, outlen, alpn_nt2, sizeof(alpn_nt2) - 1,
				  in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* ---- contexts --------------------------------------------------------------- */

/* The traffic secrets are only captured (keylog lines formatted and
 * parsed, every handshake) when they can be handed to the kernel. */
static bool want_ktls(const struct proxy *px)
{
	return !px->opts.no_ktls && ktls__available();
}

static SSL_CTX *new_ctx(struct proxy *px, const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS_SUITES) ||
	    !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) ||
	    !SSL_CTX_set_num_tickets(ctx, 0) ||
	    (want_ktls(px) && ktls__keylog_attach(ctx))) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* No resumption: every connection proves its identity afresh. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_max_early_data(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_RELEASE_BUFFERS);
	/* With read-ahead (userspace records only), up to four records per
	 * read(); released again when drained (RELEASE_BUFFERS). */
	SSL_CTX_set_default_read_buffer_len(ctx, 4 * SSL3_RT_MAX_PLAIN_LENGTH);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_peer, px);
	return ctx;
}

int proxy_tls__init(struct proxy *px, struct nt_err *err)
{
	struct proxy_tls *t = &px->tls;

	if (state_idx < 0)
		state_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_state);
	t->client = new_ctx(px, TLS_client_method());
	t->server = new_ctx(px, TLS_server_method());
	if (state_idx < 0 || !t->client || !t->server)
		return nt_err_ssl(err, -ENOMEM, "failed to set up TLS");
	SSL_CTX_set_client_hello_cb(t->server, client_hello, px);
	SSL_CTX_set_alpn_select_cb(t->server, select_alpn, px);
	/* Returns 0 on success, unlike most of OpenSSL. */
	if (!px->opts.no_mesh_reuse &&
	    SSL_CTX_set_alpn_protos(t->client, alpn_nt2, sizeof(alpn_nt2) - 1))
		return nt_err_ssl(err, -ENOMEM, "failed to set ALPN");
	proxy_tls__refresh_trust(px);
	if (!t->trust)
		return nt_err_set(err, -ENOENT, "no trust bundle could be loaded");
	return 0;
}

void proxy_tls__fini(struct proxy *px)
{
	struct proxy_tls *t = &px->tls;

	SSL_CTX_free(t->client);
	SSL_CTX_free(t->server);
	trust_put(t->ref);
	t->client = t->server = NULL;
	t->ref = NULL;
	t->trust = NULL;
}

/* The SSL object holds the trust bundles in force now (trust_ref). */
static SSL *new_ssl(struct proxy *px, SSL_CTX *ctx)
{
	struct tls_state *st = calloc(1, sizeof(*st));
	SSL *ssl = st ? SSL_new(ctx) : NULL;

	if (st)
		st->trust = trust_get(px->tls.ref);
	if (!ssl || !SSL_set_ex_data(ssl, state_idx, st)) {
		SSL_free(ssl);
		state_free(st);
		return NULL;
	}
	return ssl;
}

SSL *proxy_tls__client(struct proxy *px, const struct svid *svid,
		       uint16_t orig_port, struct nt_err *err)
{
	char sni[64];
	SSL *ssl = new_ssl(px, px->tls.client);

	if (!ssl) {
		nt_err_ssl(err, -ENOMEM, "SSL_new");
		return NULL;
	}
	snprintf(sni, sizeof(sni), "p%u%s", orig_port, PROXY_SNI_SUFFIX);
	if (use_svid(ssl, svid) || !SSL_set_tlsext_host_name(ssl, sni)) {
		nt_err_ssl(err, -EINVAL, "failed to set up the client SVID");
		SSL_free(ssl);
		return NULL;
	}
	state_of(ssl)->orig_port = orig_port;
	state_of(ssl)->local = svid->id;
	state_of(ssl)->has_local = true;
	return ssl;
}

SSL *proxy_tls__server(struct proxy *px, uint32_t netns, struct nt_err *err)
{
	SSL *ssl = new_ssl(px, px->tls.server);

	if (!ssl) {
		nt_err_ssl(err, -ENOMEM, "SSL_new");
		return NULL;
	}
	state_of(ssl)->netns = netns;
	state_of(ssl)->defer = px->wk != NULL;
	return ssl;
}

unsigned int proxy_tls__trust_gen(SSL *ssl)
{
	struct tls_state *st = state_of(ssl);

	return st && st->trust ? st->trust->gen : 0;
}

const struct spiffe_id *proxy_tls__peer_id(SSL *ssl)
{
	struct tls_state *st = state_of(ssl);

	return st && st->peer_ok ? &st->peer : NULL;
}

const char *proxy_tls__verify_error(SSL *ssl)
{
	struct tls_state *st = state_of(ssl);

	return st ? st->verify_error : "";
}

const struct spiffe_id *proxy_tls__local_id(SSL *ssl)
{
	struct tls_state *st = state_of(ssl);

	return st && st->has_local ? &st->local : NULL;
}

const char *proxy_tls__local_ns(SSL *ssl, enum nt_mode *mode)
{
	struct tls_state *st = state_of(ssl);

	if (!st || !st->local_ns[0])
		return NULL;
	*mode = st->local_mode;
	return st->local_ns;
}

uint16_t proxy_tls__orig_port(SSL *ssl)
{
	struct tls_state *st = state_of(ssl);

	return st ? st->orig_port : 0;
}

bool proxy_tls__framed(SSL *ssl)
{
	const unsigned char *p;
	unsigned int len;

	SSL_get0_alpn_selected(ssl, &p, &len);
	return len == alpn_nt2[0] && !memcmp(p, alpn_nt2 + 1, len);
}

static long seconds(const ASN1_TIME *from, const ASN1_TIME *to)
{
	int days, secs;

	if (!ASN1_TIME_diff(&days, &secs, from, to))
		return 0;
	return (long)days * 86400 + secs;
}

/* Seconds until @x passes half its life, when its holder re-mints it. */
static long half_life_left(X509 *x)
{
	long left;

	if (!x)
		return 0;
	left = seconds(NULL, X509_get0_notAfter(x)) -
	       seconds(X509_get0_notBefore(x), X509_get0_notAfter(x)) / 2;
	return left > 0 ? left : 0;
}

long proxy_tls__reuse_left(SSL *ssl)
{
	long mine = half_life_left(SSL_get_certificate(ssl));
	long theirs = half_life_left(SSL_get0_peer_certificate(ssl));

	return mine < theirs ? mine : theirs;
}

/* The state holds two 2.3 KB IDs and an error text, 5 KB a connection
 * that nothing reads after the handshake (no renegotiation, no
 * post-handshake auth in TLS 1.3 as we set it up). */
void proxy_tls__handshake_done(SSL *ssl)
{
	struct tls_state *st = state_of(ssl);

	/* If the slot cannot be cleared, SSL_free() frees the state. */
	if (st && SSL_set_ex_data(ssl, state_idx, NULL))
		state_free(st);
}
