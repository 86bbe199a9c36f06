// SPDX-License-Identifier: Apache-2.0
/*
 * The parsers of what a peer proxy sends outside the relayed bytes
 * (userspace/proxy/wire.c): the port in SNI, as raw extension bytes and
 * out of a real ClientHello read from a socketpair, and the verdict words.
 */
#include <errno.h>
#include <string.h>

#include <openssl/ssl.h>

#include "tests/unit/fixture_proxy.h"

/* The server_name extension of one host_name entry, as OpenSSL hands it
 * over: list length, type 0, name length, name. */
static size_t sni_ext(unsigned char *buf, const char *name)
{
	size_t n = strlen(name);

	buf[0] = (n + 3) >> 8;
	buf[1] = (n + 3) & 0xff;
	buf[2] = 0;
	buf[3] = n >> 8;
	buf[4] = n & 0xff;
	memcpy(buf + 5, name, n);
	return n + 5;
}

static void test_sni_port_table(void)
{
	static const struct {
		const char *name;
		int ret;
		uint16_t port;
	} rows[] = {
		{ "p8080.nametag.invalid", 0, 8080 },
		{ "p1.nametag.invalid", 0, 1 },
		{ "p65535.nametag.invalid", 0, 65535 },
		{ "p0.nametag.invalid", -EINVAL, 0 },
		{ "p65536.nametag.invalid", -EINVAL, 0 },
		{ "p123456.nametag.invalid", -EINVAL, 0 },	/* six digits */
		{ "p.nametag.invalid", -EINVAL, 0 },
		{ "8080.nametag.invalid", -EINVAL, 0 },
		{ "q8080.nametag.invalid", -EINVAL, 0 },
		{ "p80a0.nametag.invalid", -EINVAL, 0 },
		{ "p-80.nametag.invalid", -EINVAL, 0 },
		{ "p8080.nametag.invalid.", -EINVAL, 0 },
		{ "p8080.example.com", -EINVAL, 0 },
		{ "p8080", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
	};
	unsigned char buf[300];
	uint16_t port;
	size_t i, len;
	int ret;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		len = sni_ext(buf, rows[i].name);
		port = 0;
		ret = proxy__sni_port(buf, len, &port);
		CHECKF(ret == rows[i].ret, "%s: %d, want %d", rows[i].name, ret,
		       rows[i].ret);
		if (!rows[i].ret)
			CHECK_EQ(port, rows[i].port);
	}
}

/* Lengths that do not add up are refused before a byte of the name is
 * read; so is an entry that is not host_name. */
static void test_sni_port_framing(void)
{
	unsigned char buf[64];
	uint16_t port;
	size_t len = sni_ext(buf, "p443.nametag.invalid");

	CHECK_EQ(proxy__sni_port(buf, len, &port), 0);
	CHECK_EQ(port, 443);
	CHECK_EQ(proxy__sni_port(buf, len - 1, &port), -EINVAL);
	CHECK_EQ(proxy__sni_port(buf, 4, &port), -EINVAL);
	CHECK_EQ(proxy__sni_port(buf, 0, &port), -EINVAL);
	buf[2] = 1;				/* not host_name */
	CHECK_EQ(proxy__sni_port(buf, len, &port), -EINVAL);
	buf[2] = 0;
	buf[4]++;				/* name longer than the list */
	CHECK_EQ(proxy__sni_port(buf, len, &port), -EINVAL);
	buf[4]--;
	buf[1]++;				/* list longer than the bytes */
	CHECK_EQ(proxy__sni_port(buf, len, &port), -EINVAL);
}

struct hello {
	int ret;
	uint16_t port;
};

/* The proxy's server reads the port in the ClientHello callback. */
static int on_hello(SSL *ssl, int *alert, void *arg)
{
	struct hello *h = arg;
	const unsigned char *ext;
	size_t len;

	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len))
		h->ret = -ENOENT;
	else
		h->ret = proxy__sni_port(ext, len, &h->port);
	return SSL_CLIENT_HELLO_ERROR;	/* seen enough: end the handshake */
}

/* What OpenSSL's client really sends for SSL_set_tlsext_host_name(). */
static int hello_port(const char *sni, uint16_t *port)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	struct hello h = { .ret = -EAGAIN };
	SSL *c, *s;
	int fds[2];

	stream_pair(fds);
	SSL_CTX_set_client_hello_cb(sctx, on_hello, &h);
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	SSL_set_fd(c, fds[0]);
	SSL_set_fd(s, fds[1]);
	if (sni)
		SSL_set_tlsext_host_name(c, sni);
	SSL_connect(c);		/* writes the ClientHello, then wants to read */
	SSL_accept(s);		/* reads it: the callback runs */
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	close(fds[0]);
	close(fds[1]);
	*port = h.port;
	return h.ret;
}

static void test_sni_port_from_client_hello(void)
{
	uint16_t port = 0;

	CHECK_EQ(hello_port("p8443.nametag.invalid", &port), 0);
	CHECK_EQ(port, 8443);
	CHECK_EQ(hello_port("p8443.example.com", &port), -EINVAL);
	CHECK_EQ(hello_port(NULL, &port), -ENOENT);
}

static void test_verdict_words(void)
{
	static const struct {
		const char *line;
		bool allow;
		const char *reason;
	} rows[] = {
		{ "ALLOW", true, "" },
		{ "ALLOW rule shop.rules[0] (allow)", true, "rule shop.rules[0] (allow)" },
		{ "ALLOW ", true, "" },
		{ "DENY default deny: no allow rule", false, "default deny: no allow rule" },
		{ "DENY ", false, "" },
		{ "DENY", false, "peer proxy sent no verdict" },
		{ "ALLOWED", false, "peer proxy sent no verdict" },
		{ "allow", false, "peer proxy sent no verdict" },
		{ "", false, "peer proxy sent no verdict" },
		{ "NT1 ALLOW", false, "peer proxy sent no verdict" },
	};
	const char *reason;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		CHECKF(proxy__verdict_parse(rows[i].line, &reason) == rows[i].allow,
		       "\"%s\"", rows[i].line);
		CHECK_STR(reason, rows[i].reason);
	}
}

T_MAIN("proxy/wire",
       T(test_sni_port_table),
       T(test_sni_port_framing),
       T(test_sni_port_from_client_hello),
       T(test_verdict_words));
