// SPDX-License-Identifier: Apache-2.0
/*
 * kTLS for TLS 1.3 by hand: the secrets come from OpenSSL's keylog
 * callback, the keys are expanded here, the kernel gets them through
 * setsockopt (Documentation/networking/tls.rst). See ktls.h for the rules.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <linux/tls.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#include "userspace/proxy/proxy.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#define TLS_ALERT_WARNING	1
#define TLS_ALERT_CLOSE_NOTIFY	0
#define TLS_ALERT_USER_CANCELED	90

/* The two suites the kernel can take over, by their IANA code points. */
struct ktls_suite {
	uint16_t id;
	const char *digest;	/* of the suite's HKDF */
	size_t secret_len;	/* = digest size */
	uint16_t cipher_type;	/* TLS_CIPHER_* for the kernel */
	size_t key_len;
};

static const struct ktls_suite ktls_suites[] = {
	{ 0x1301, "SHA256", 32, TLS_CIPHER_AES_GCM_128, 16 },
	{ 0x1302, "SHA384", 48, TLS_CIPHER_AES_GCM_256, 32 },
};

union ktls_crypto_info {
	struct tls_crypto_info base;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
};

/* Per-SSL storage of the two application traffic secrets. */
struct ktls_secrets {
	unsigned char client[EVP_MAX_MD_SIZE];
	unsigned char server[EVP_MAX_MD_SIZE];
	size_t client_len;
	size_t server_len;
};

static CRYPTO_ONCE ktls_once = CRYPTO_ONCE_STATIC_INIT;
static int ktls_ex_idx = -1;

/* ---- probe ---------------------------------------------------------------- */

/*
 * The kernel looks the ULP up (loading tls.ko on demand) before it looks
 * at the socket, so an unconnected socket is enough: ENOENT means no kTLS,
 * ENOTCONN means the ULP exists and merely wants an ESTABLISHED socket.
 */
bool ktls__available(void)
{
	static int cached = -1;
	int fd, ret;

	if (cached >= 0)
		return cached;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;	/* transient (EMFILE...): do not cache */
	ret = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
	if (ret == 0 || errno == ENOTCONN)
		cached = 1;
	else if (errno == ENOENT)
		cached = 0;
	close(fd);
	return cached == 1;
}

/* ---- secret capture ------------------------------------------------------- */

static void ktls_secrets_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
			      int idx, long argl, void *argp)
{
	OPENSSL_clear_free(ptr, sizeof(struct ktls_secrets));
}

static void ktls_index_init(void)
{
	ktls_ex_idx = SSL_get_ex_new_index(0, "nametag ktls secrets", NULL,
					   NULL, ktls_secrets_free);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the hex string @s (up to NUL or space) into @out. Returns the
 * byte count or -1 if it is malformed or longer than @cap. */
static int hex_decode(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;
	int hi, lo;

	while (*s && *s != ' ') {
		hi = hexval(s[0]);
		lo = hi < 0 ? -1 : hexval(s[1]);
		if (lo < 0 || n == cap)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return (int)n;
}

static struct ktls_secrets *secrets_of(const SSL *ssl, bool create)
{
	struct ktls_secrets *ks;

	ks = SSL_get_ex_data(ssl, ktls_ex_idx);
	if (ks || !create)
		return ks;
	ks = OPENSSL_zalloc(sizeof(*ks));
	/* OpenSSL hands the callback a const SSL, but ex_data is the
	 * documented place for per-connection state and the SSL object is
	 * ours. */
	if (ks && !SSL_set_ex_data((SSL *)ssl, ktls_ex_idx, ks)) {
		OPENSSL_free(ks);
		ks = NULL;
	}
	return ks;
}

/*
 * NSS key log line: "LABEL <client_random hex> <secret hex>". Only the two
 * application traffic secrets are kept; the line itself is never stored
 * or printed (OpenSSL wipes it after we return).
 */
static void ktls_keylog_cb(const SSL *ssl, const char *line)
{
	static const char cts[] = "CLIENT_TRAFFIC_SECRET_0 ";
	static const char sts[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct ktls_secrets *ks;
	unsigned char *dst;
	size_t *dst_len;
	const char *p;
	bool client;
	int n;

	client = !strncmp(line, cts, sizeof(cts) - 1);
	if (!client && strncmp(line, sts, sizeof(sts) - 1))
		return;
	p = strchr(line + sizeof(cts) - 1, ' ');	/* skip client random */
	ks = secrets_of(ssl, true);
	if (!p || !ks)
		return;	/* ktls__install() will report -ENOKEY */
	dst = client ? ks->client : ks->server;
	dst_len = client ? &ks->client_len : &ks->server_len;
	n = hex_decode(p + 1, dst, EVP_MAX_MD_SIZE);
	*dst_len = n > 0 ? (size_t)n : 0;
}

int ktls__keylog_attach(SSL_CTX *ctx)
{
	SSL_CTX_keylog_cb_func cur;

	if (!CRYPTO_THREAD_run_once(&ktls_once, ktls_index_init) ||
	    ktls_ex_idx < 0)
		return -ENOMEM;
	cur = SSL_CTX_get_keylog_callback(ctx);
	if (cur && cur != ktls_keylog_cb)
		return -EBUSY;
	SSL_CTX_set_keylog_callback(ctx, ktls_keylog_cb);
	return 0;
}

static void secrets_wipe(SSL *ssl)
{
	struct ktls_secrets *ks;

	if (ktls_ex_idx < 0)
		return;
	ks = secrets_of(ssl, false);
	if (!ks)
		return;
	SSL_set_ex_data(ssl, ktls_ex_idx, NULL);
	OPENSSL_clear_free(ks, sizeof(*ks));
}

/* ---- key schedule --------------------------------------------------------- */

static int expand_label(EVP_KDF *kdf, const char *digest,
			const unsigned char *secret, size_t secret_len,
			const char *label, unsigned char *out, size_t out_len)
{
	static const char prefix[] = "tls13 ";
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[6], *p = params;
	EVP_KDF_CTX *kctx;
	int ret = 0;

	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx)
		return -ENOMEM;
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)digest, 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)secret, secret_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX,
						 (void *)prefix,
						 sizeof(prefix) - 1);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL,
						 (void *)label, strlen(label));
	*p = OSSL_PARAM_construct_end();
	/* The context ("data") of the traffic key derivation is empty. */
	if (EVP_KDF_derive(kctx, out, out_len, params) <= 0)
		ret = -EIO;
	EVP_KDF_CTX_free(kctx);
	return ret;
}

int ktls__derive_key_iv(const char *digest, const unsigned char *secret,
			size_t secret_len, unsigned char *key, size_t key_len,
			unsigned char iv[KTLS_IV_LEN])
{
	EVP_KDF *kdf;
	int ret;

	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_TLS1_3_KDF, NULL);
	if (!kdf)
		return -EIO;
	ret = expand_label(kdf, digest, secret, secret_len, "key", key,
			   key_len);
	if (!ret)
		ret = expand_label(kdf, digest, secret, secret_len, "iv", iv,
				   KTLS_IV_LEN);
	EVP_KDF_free(kdf);
	if (ret)
		OPENSSL_cleanse(key, key_len);
	return ret;
}

/*
 * For TLS 1.3 the kernel builds each nonce as salt || iv XOR the record
 * sequence number, so the 12-byte IV splits 4 + 8 and rec_seq starts at 0.
 */
static int crypto_info_fill(const struct ktls_suite *s,
			    const unsigned char *secret,
			    union ktls_crypto_info *ci, socklen_t *size)
{
	unsigned char key[32], iv[KTLS_IV_LEN];
	int ret;

	memset(ci, 0, sizeof(*ci));
	ret = ktls__derive_key_iv(s->digest, secret, s->secret_len, key,
				  s->key_len, iv);
	if (ret)
		goto cleanup;
	ci->base.version = TLS_1_3_VERSION;
	ci->base.cipher_type = s->cipher_type;
	if (s->cipher_type == TLS_CIPHER_AES_GCM_128) {
		memcpy(ci->gcm128.key, key, sizeof(ci->gcm128.key));
		memcpy(ci->gcm128.salt, iv, sizeof(ci->gcm128.salt));
		memcpy(ci->gcm128.iv, iv + 4, sizeof(ci->gcm128.iv));
		*size = sizeof(ci->gcm128);
	} else {
		memcpy(ci->gcm256.key, key, sizeof(ci->gcm256.key));
		memcpy(ci->gcm256.salt, iv, sizeof(ci->gcm256.salt));
		memcpy(ci->gcm256.iv, iv + 4, sizeof(ci->gcm256.iv));
		*size = sizeof(ci->gcm256);
	}
cleanup:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return ret;
}

/* ---- install -------------------------------------------------------------- */

static const struct ktls_suite *suite_of(SSL *ssl, struct nt_err *err)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	uint16_t id;
	size_t i;

	if (SSL_version(ssl) != TLS1_3_VERSION || !c) {
		nt_err_set(err, -EOPNOTSUPP, "kTLS is done for TLS 1.3 only, not %s",
			   SSL_get_version(ssl));
		return NULL;
	}
	id = SSL_CIPHER_get_protocol_id(c);
	for (i = 0; i < ARRAY_SIZE(ktls_suites); i++)
		if (ktls_suites[i].id == id)
			return &ktls_suites[i];
	nt_err_set(err, -EOPNOTSUPP, "no kTLS for cipher %s (AES-GCM only)",
		   SSL_CIPHER_get_name(c));
	return NULL;
}

/* Whatever OpenSSL has buffered or would still send would be lost or
 * out of sequence once the kernel owns the record layer. */
static int ssl_quiescent(SSL *ssl, int fd, bool is_server,
			 struct nt_err *err)
{
	if (!SSL_is_init_finished(ssl))
		return nt_err_set(err, -EINVAL, "the TLS handshake is not finished");
	if (SSL_get_fd(ssl) >= 0 && SSL_get_fd(ssl) != fd)
		return nt_err_set(err, -EINVAL, "fd %d is not the SSL's socket (%d)",
				  fd, SSL_get_fd(ssl));
	if (SSL_pending(ssl) > 0 || SSL_has_pending(ssl))
		return nt_err_set(err, -EBUSY,
				  "OpenSSL holds unread bytes past Finished (read-ahead on?)");
	/* A server sends its tickets right after Finished, under the
	 * traffic key: the kernel would start at the wrong sequence. */
	if (is_server && SSL_get_num_tickets(ssl) > 0)
		return nt_err_set(err, -EINVAL,
				  "session tickets are enabled (set num_tickets 0)");
	return 0;
}

static int set_ulp(int fd, struct nt_err *err)
{
	if (!setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")))
		return 0;
	switch (errno) {
	case ENOENT:
		return nt_err_set(err, -ENOPROTOOPT,
				  "kernel has no kTLS (TCP_ULP \"tls\": ENOENT; CONFIG_TLS off or tls.ko missing)");
	case ENOTCONN:
		return nt_err_set(err, -ENOTCONN,
				  "kTLS needs an ESTABLISHED socket");
	default:
		return nt_err_set(err, -errno, "failed to set TCP_ULP \"tls\": %s",
				  strerror(errno));
	}
}

static int set_keys(int fd, int dir, const struct ktls_suite *s,
		    const unsigned char *secret, struct nt_err *err)
{
	union ktls_crypto_info ci;
	socklen_t size = 0;
	int ret;

	ret = crypto_info_fill(s, secret, &ci, &size);
	if (ret) {
		nt_err_set(err, ret, "failed to derive kTLS keys");
		goto cleanup;
	}
	if (setsockopt(fd, SOL_TLS, dir, &ci, size)) {
		ret = nt_err_set(err, -errno, "failed to set %s: %s",
				 dir == TLS_TX ? "TLS_TX" : "TLS_RX",
				 strerror(errno));
	}
cleanup:
	OPENSSL_cleanse(&ci, sizeof(ci));
	return ret;
}

int ktls__install(SSL *ssl, int fd, bool is_server, struct nt_err *err)
{
	const struct ktls_suite *s;
	struct ktls_secrets *ks;
	const unsigned char *tx, *rx;
	int ret;

	s = suite_of(ssl, err);
	if (!s) {
		ret = -EOPNOTSUPP;
		goto cleanup;
	}
	ret = ssl_quiescent(ssl, fd, is_server, err);
	if (ret)
		goto cleanup;
	ks = ktls_ex_idx < 0 ? NULL : secrets_of(ssl, false);
	if (!ks || ks->client_len != s->secret_len ||
	    ks->server_len != s->secret_len) {
		ret = nt_err_set(err, -ENOKEY,
				 "traffic secrets not captured (ktls__keylog_attach() not called?)");
		goto cleanup;
	}
	tx = is_server ? ks->server : ks->client;
	rx = is_server ? ks->client : ks->server;
	ret = set_ulp(fd, err);
	if (!ret)
		ret = set_keys(fd, TLS_TX, s, tx, err);
	if (!ret)
		ret = set_keys(fd, TLS_RX, s, rx, err);
	if (!ret)
		/* From here on OpenSSL must never write to the socket: an
		 * alert under its own key state would corrupt the stream. */
		SSL_set_quiet_shutdown(ssl, 1);
cleanup:
	secrets_wipe(ssl);
	return ret;
}

/* ---- after the switch ----------------------------------------------------- */

static int record_type_of(struct msghdr *msg)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm))
		if (cm->cmsg_level == SOL_TLS &&
		    cm->cmsg_type == TLS_GET_RECORD_TYPE &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(unsigned char)))
			return *(unsigned char *)CMSG_DATA(cm);
	return 0;
}

/* 0 to report end of stream, 1 to read on, or a negative errno. */
static int alert_verdict(const unsigned char *a, ssize_t n)
{
	if (n != 2)
		return -EPROTO;
	if (a[1] == TLS_ALERT_CLOSE_NOTIFY)
		return 0;
	/* RFC 8446 6.1: user_canceled is followed by close_notify. */
	if (a[0] == TLS_ALERT_WARNING && a[1] == TLS_ALERT_USER_CANCELED)
		return 1;
	return -ECONNABORTED;
}

/* One recvmsg(): bytes or -errno, and the record type (0 if none given). */
static ssize_t recv_record(int fd, void *buf, size_t len, int *type)
{
	union {
		char buf[CMSG_SPACE(sizeof(unsigned char))];
		struct cmsghdr align;
	} c;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = c.buf,
		.msg_controllen = sizeof(c.buf),
	};
	ssize_t n;

	*type = 0;
	n = recvmsg(fd, &msg, 0);
	if (n < 0)
		return -errno;
	*type = record_type_of(&msg);
	return n;
}

ssize_t ktls__recv(int fd, void *buf, size_t len, int *record_type)
{
	ssize_t n;
	int type;

	if (len < 1) {
		n = -EINVAL;
		goto fail;
	}
	for (;;) {
		n = recv_record(fd, buf, len, &type);
		if (record_type)
			*record_type = type;
		if (n < 0)
			goto fail;
		if (type == KTLS_RECORD_DATA || (n == 0 && !type))
			return n;	/* data, or a FIN without close_notify */
		/* Handshake records (KeyUpdate, NewSessionTicket): Debian 12's
		 * kernel cannot rekey, so the only safe answer is to close.
		 * Bytes with no record type: not a kTLS socket. */
		if (type != KTLS_RECORD_ALERT) {
			n = -EPROTO;
			goto fail;
		}
		n = alert_verdict(buf, n);
		if (n == 0)
			return 0;
		if (n < 0)
			goto fail;
	}
fail:
	errno = (int)-n;
	return n;
}

int ktls__send_close_notify(int fd)
{
	static const unsigned char alert[2] = {
		TLS_ALERT_WARNING, TLS_ALERT_CLOSE_NOTIFY
	};
	union {
		char buf[CMSG_SPACE(sizeof(unsigned char))];
		struct cmsghdr align;
	} c;
	struct iovec iov = { .iov_base = (void *)alert, .iov_len = 2 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = c.buf,
		.msg_controllen = sizeof(c.buf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	memset(&c, 0, sizeof(c));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cm) = KTLS_RECORD_ALERT;
	n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == sizeof(alert) ? 0 : -EIO;
}

/* ---- a socket another process switched (an upgrade's hand-over) ---------------- */

/* The header of what one direction was given: only the header is asked
 * for, so the kernel copies no key out (tls_main.c answers a buffer of
 * exactly sizeof(struct tls_crypto_info) with the header alone). */
static int crypto_info(int fd, int dir, struct tls_crypto_info *ci)
{
	socklen_t len = sizeof(*ci);

	if (getsockopt(fd, SOL_TLS, dir, ci, &len))
		return -errno;
	return len == sizeof(*ci) ? 0 : -EIO;
}

int ktls__check(int fd, const char **cipher, struct nt_err *err)
{
	struct tls_crypto_info tx, rx;
	char ulp[16] = "";
	socklen_t len = sizeof(ulp) - 1;
	int ret;

	if (getsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, &len))
		return nt_err_set(err, -errno, "TCP_ULP: %s", strerror(errno));
	ulp[len < sizeof(ulp) ? len : sizeof(ulp) - 1] = '\0';
	if (strcmp(ulp, "tls"))
		return nt_err_set(err, -EPROTONOSUPPORT, "no kTLS on the socket (ULP \"%s\")",
				  ulp);
	ret = crypto_info(fd, TLS_TX, &tx);
	if (!ret)
		ret = crypto_info(fd, TLS_RX, &rx);
	if (ret)
		return nt_err_set(err, -EPROTONOSUPPORT, "kTLS not set both ways: %s",
				  strerror(-ret));
	if (tx.version != TLS_1_3_VERSION || rx.version != TLS_1_3_VERSION ||
	    tx.cipher_type != rx.cipher_type)
		return nt_err_set(err, -EPROTONOSUPPORT, "kTLS not TLS 1.3 with one suite both ways");
	switch (tx.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		*cipher = "TLS_AES_128_GCM_SHA256";
		return 0;
	case TLS_CIPHER_AES_GCM_256:
		*cipher = "TLS_AES_256_GCM_SHA384";
		return 0;
	}
	return nt_err_set(err, -EPROTONOSUPPORT, "kTLS cipher %u is not one of ours",
			  tx.cipher_type);
}

bool ktls__ulp_none(int fd)
{
	char ulp[16];
	socklen_t len = sizeof(ulp);

	return !getsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, &len) && len == 0;
}
