// SPDX-License-Identifier: Apache-2.0
/*
 * ktls_selftest: userspace/proxy/ktls.c against the running kernel.
 *
 * A server process and a client process do a TLS 1.3 handshake with
 * OpenSSL over 127.0.0.1 (throwaway P-256 certificate, no tickets), switch
 * both ends to kTLS with ktls__install(), and then only the kernel sees
 * the record layer: 1 MB each way through read()/write(), 1 MB echoed by
 * the server through splice() (socket -> pipe -> socket), close_notify
 * both ways seen as end of stream by ktls__recv(), and /proc/net/tls_stat
 * proving that the kernel did the crypto. Once per AES-GCM suite.
 *
 * Without kTLS (the build machines) only the checks that need no kernel
 * support run (key schedule known answer, refusal of other ciphers, the
 * -ENOPROTOOPT fallback leaving OpenSSL usable) and the program exits 77.
 *
 * Ends with "ktls_selftest: N passed, N failed".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "userspace/proxy/proxy.h"

#define EXIT_SKIP	77
#define DATA_LEN	(1u << 20)
#define CHUNK		(64u << 10)
#define PAIR_TIMEOUT	100	/* seconds; TCG makes everything slow */
#define IO_TIMEOUT_MS	30000

struct end {
	int fd;
	SSL *ssl;
	bool is_server;
	const char *tag;	/* "aes128/client"... for check names */
};

typedef void (*role_fn)(struct end *e);

static int passed, failed;
static EVP_PKEY *cert_key;
static X509 *cert;
static int expect_install;	/* errno the "untouched" roles expect */

__attribute__((format(printf, 4, 5)))
static void check(bool ok, const char *tag, const char *what,
		  const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		printf("ok   ktls/%s/%s\n", tag, what);
		return;
	}
	failed++;
	printf("FAIL ktls/%s/%s: ", tag, what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- fixtures ------------------------------------------------------------- */

static int make_cert(void)
{
	X509_NAME *name;

	cert_key = EVP_EC_gen("P-256");
	cert = X509_new();
	if (!cert_key || !cert)
		return -ENOMEM;
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -60) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 3600) ||
	    !X509_set_pubkey(cert, cert_key) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"ktls-selftest",
					-1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) ||
	    !X509_sign(cert, cert_key, EVP_sha256()))
		return -EIO;
	return 0;
}

/* The record layer is under test, not certificates (ca/ tests those), so
 * the client does not verify the throwaway certificate. */
static SSL_CTX *make_ctx(bool server, const char *suite)
{
	SSL_CTX *ctx;

	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, suite) ||
	    !SSL_CTX_set_num_tickets(ctx, 0) ||
	    ktls__keylog_attach(ctx) ||
	    (server && (!SSL_CTX_use_certificate(ctx, cert) ||
			!SSL_CTX_use_PrivateKey(ctx, cert_key)))) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static int listener(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)sa, &len)) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int tcp_end(bool server, int lfd, const struct sockaddr_in *sa)
{
	int fd;

	if (server)
		return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* One end: TCP, handshake, then @role. Counts its checks. */
static void run_end(bool server, int lfd, const struct sockaddr_in *sa,
		    const char *suite, const char *tag, role_fn role)
{
	struct end e = { .fd = -1, .is_server = server, .tag = tag };
	SSL_CTX *ctx = make_ctx(server, suite);
	int ret = -1;

	e.fd = tcp_end(server, lfd, sa);
	if (ctx && e.fd >= 0)
		e.ssl = SSL_new(ctx);
	if (e.ssl && SSL_set_fd(e.ssl, e.fd))
		ret = server ? SSL_accept(e.ssl) : SSL_connect(e.ssl);
	check(ret == 1, tag, "handshake", "%s",
	      ERR_reason_error_string(ERR_get_error()) ?: "setup failed");
	if (ret == 1)
		role(&e);
	SSL_free(e.ssl);
	SSL_CTX_free(ctx);
	if (e.fd >= 0)
		close(e.fd);
}

/*
 * Forks the server end; the client end runs here. The child's counts come
 * back through a pipe so the summary covers both processes.
 */
static void run_pair(const char *name, const char *suite, role_fn server,
		     role_fn client)
{
	char stag[64], ctag[64];
	struct sockaddr_in sa;
	int counts[2], lfd, p[2], status;
	pid_t pid;

	snprintf(stag, sizeof(stag), "%s/server", name);
	snprintf(ctag, sizeof(ctag), "%s/client", name);
	lfd = listener(&sa);
	if (lfd < 0 || pipe2(p, O_CLOEXEC)) {
		check(false, name, "setup", "listener or pipe: %s",
		      strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		alarm(PAIR_TIMEOUT);
		passed = failed = 0;
		run_end(true, lfd, &sa, suite, stag, server);
		counts[0] = passed;
		counts[1] = failed;
		fflush(stdout);
		_exit(write(p[1], counts, sizeof(counts)) == sizeof(counts) ?
		      0 : 1);
	}
	close(p[1]);
	if (pid > 0)
		run_end(false, lfd, &sa, suite, ctag, client);
	close(lfd);
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    read(p[0], counts, sizeof(counts)) != sizeof(counts)) {
		check(false, stag, "process", "server process died (timeout?)");
	} else {
		passed += counts[0];
		failed += counts[1];
	}
	close(p[0]);
}

/* ---- byte movers ---------------------------------------------------------- */

static void pattern(unsigned char *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 131u + seed * 97u) ^ (i >> 9));
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;

	for (size_t off = 0; off < len; off += n) {
		n = write(fd, buf + off, len - off > CHUNK ? CHUNK : len - off);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
	}
	return 0;
}

static int read_all(int fd, unsigned char *buf, size_t len)
{
	ssize_t n;

	for (size_t off = 0; off < len; off += n) {
		n = read(fd, buf + off, len - off);
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
	}
	return 0;
}

/* Echoes @len bytes back without copying them to userspace. */
static int splice_echo(int fd, size_t len)
{
	ssize_t n, m;
	int p[2], ret = 0;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	for (size_t done = 0; done < len && !ret; done += n) {
		n = splice(fd, NULL, p[1], NULL,
			   len - done > CHUNK ? CHUNK : len - done, 0);
		if (n <= 0) {
			ret = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		for (ssize_t left = n; left > 0 && !ret; left -= m) {
			m = splice(p[0], NULL, fd, NULL, left, 0);
			if (m <= 0)
				ret = m < 0 ? -errno : -EIO;
		}
	}
	close(p[0]);
	close(p[1]);
	return ret;
}

static int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) ? -errno : 0;
}

/* Writes @out while reading the echo into @in; one blocking side would
 * deadlock once both socket buffers fill. Reads go through ktls__recv(). */
static int echo_pump(int fd, const unsigned char *out, unsigned char *in,
		     size_t len)
{
	size_t wr = 0, rd = 0;
	struct pollfd pfd;
	ssize_t n;
	int type;

	while (rd < len) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (wr < len)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, IO_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		if (wr < len && (pfd.revents & POLLOUT)) {
			n = send(fd, out + wr, len - wr > CHUNK ? CHUNK : len - wr,
				 MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN)
				return -errno;
			wr += n > 0 ? (size_t)n : 0;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = ktls__recv(fd, in + rd, len - rd, &type);
		if (n == -EAGAIN)
			continue;
		if (n <= 0 || type != KTLS_RECORD_DATA)
			return n < 0 ? (int)n : -ECONNRESET;
		rd += n;
	}
	return 0;
}

static int echo_exchange(int fd, const unsigned char *out, unsigned char *in,
			 size_t len)
{
	int ret, ret2;

	ret = set_nonblock(fd, true);
	if (ret)
		return ret;
	ret = echo_pump(fd, out, in, len);
	ret2 = set_nonblock(fd, false);
	return ret ?: ret2;
}

/* ---- roles ---------------------------------------------------------------- */

/* Data buffers: what we send and what we receive. */
struct bufs {
	unsigned char *out;
	unsigned char *in;
};

static int bufs_alloc(struct bufs *b)
{
	b->out = malloc(DATA_LEN);
	b->in = malloc(DATA_LEN);
	return b->out && b->in ? 0 : -ENOMEM;
}

static void bufs_free(struct bufs *b)
{
	free(b->out);
	free(b->in);
}

static bool install(struct end *e)
{
	struct nt_err err = { "" };
	int ret;

	ret = ktls__install(e->ssl, e->fd, e->is_server, &err);
	check(ret == 0, e->tag, "install", "%s (%d)", err.msg, ret);
	return ret == 0;
}

/* Plain read()/write() on the kTLS socket: client -> server, then back. */
static void phase_rw(struct end *e, struct bufs *b)
{
	unsigned int seed_in = e->is_server ? 1 : 2;
	unsigned int seed_out = e->is_server ? 2 : 1;
	int ret;

	pattern(b->out, DATA_LEN, seed_out);
	if (e->is_server) {
		ret = read_all(e->fd, b->in, DATA_LEN);
		if (!ret)
			ret = write_all(e->fd, b->out, DATA_LEN);
	} else {
		ret = write_all(e->fd, b->out, DATA_LEN);
		if (!ret)
			ret = read_all(e->fd, b->in, DATA_LEN);
	}
	check(!ret, e->tag, "read-write 1MB", "%s", strerror(-ret));
	pattern(b->out, DATA_LEN, seed_in);
	check(!ret && !memcmp(b->in, b->out, DATA_LEN), e->tag,
	      "read-write bytes identical", "data differs");
}

static void phase_splice(struct end *e, struct bufs *b)
{
	int ret;

	if (e->is_server) {
		ret = splice_echo(e->fd, DATA_LEN);
		check(!ret, e->tag, "splice echo 1MB", "%s", strerror(-ret));
		return;
	}
	pattern(b->out, DATA_LEN, 3);
	ret = echo_exchange(e->fd, b->out, b->in, DATA_LEN);
	check(!ret, e->tag, "splice echo 1MB", "%s", strerror(-ret));
	check(!ret && !memcmp(b->in, b->out, DATA_LEN), e->tag,
	      "splice echo bytes identical", "data differs");
}

/* Expects end of stream from ktls__recv() with the given record type. */
static void expect_eof(struct end *e, int want_type, const char *what)
{
	unsigned char buf[64];
	ssize_t n;
	int type = -1;

	n = ktls__recv(e->fd, buf, sizeof(buf), &type);
	check(n == 0 && type == want_type, e->tag, what,
	      "ktls__recv gave %zd (%s), record type %d", n,
	      n < 0 ? strerror((int)-n) : "bytes", type);
}

static void send_close(struct end *e)
{
	int ret = ktls__send_close_notify(e->fd);

	check(!ret, e->tag, "send close_notify", "%s", strerror(-ret));
	check(!shutdown(e->fd, SHUT_WR), e->tag, "shutdown write", "%s",
	      strerror(errno));
}

/* The server closes first; each side then sees close_notify as EOF. */
static void phase_close(struct end *e)
{
	if (e->is_server) {
		send_close(e);
		expect_eof(e, KTLS_RECORD_ALERT, "close_notify is EOF");
		return;
	}
	expect_eof(e, KTLS_RECORD_ALERT, "close_notify is EOF");
	expect_eof(e, 0, "FIN after close_notify is EOF");
	send_close(e);
}

static void role_ktls(struct end *e)
{
	struct bufs b;

	if (!install(e))
		return;
	if (bufs_alloc(&b)) {
		check(false, e->tag, "alloc", "out of memory");
		goto cleanup;
	}
	phase_rw(e, &b);
	phase_splice(e, &b);
	phase_close(e);
cleanup:
	bufs_free(&b);
}

/* ktls__install() must refuse with @expect_install and leave OpenSSL's
 * own record layer working: the proxy's fallback depends on it. */
static void role_untouched(struct end *e)
{
	struct nt_err err = { "" };
	char buf[8] = "";
	int ret;

	ret = ktls__install(e->ssl, e->fd, e->is_server, &err);
	check(ret == -expect_install && err.msg[0], e->tag, "install refused",
	      "got %d (%s), want %d", ret, err.msg, -expect_install);
	if (e->is_server)
		ret = SSL_read(e->ssl, buf, 4) == 4 &&
		      SSL_write(e->ssl, "pong", 4) == 4;
	else
		ret = SSL_write(e->ssl, "ping", 4) == 4 &&
		      SSL_read(e->ssl, buf, 4) == 4;
	check(ret && !memcmp(buf, e->is_server ? "ping" : "pong", 4), e->tag,
	      "OpenSSL still carries data", "userspace exchange failed");
}

/* The server stays on OpenSSL and rekeys; the kTLS client, which Debian
 * 12's kernel cannot rekey, must see the KeyUpdate as a reason to close. */
static void role_keyupdate(struct end *e)
{
	unsigned char buf[64];
	ssize_t n;
	int type = -1;

	if (e->is_server) {
		check(SSL_key_update(e->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) &&
		      SSL_do_handshake(e->ssl) == 1, e->tag, "send KeyUpdate",
		      "OpenSSL refused");
		/* Wait for the client to hang up. */
		check(SSL_read(e->ssl, buf, sizeof(buf)) <= 0, e->tag,
		      "peer closes", "got data");
		return;
	}
	if (!install(e))
		return;
	n = ktls__recv(e->fd, buf, sizeof(buf), &type);
	check(n == -EPROTO && type == KTLS_RECORD_HANDSHAKE, e->tag,
	      "KeyUpdate is -EPROTO", "ktls__recv gave %zd, record type %d",
	      n, type);
}

/* ---- cases ---------------------------------------------------------------- */

/* RFC 8448 section 3, {server} application traffic secret and keys. */
static void test_key_schedule(void)
{
	static const unsigned char secret[32] = {
		0xa1, 0x1a, 0xf9, 0xf0, 0x55, 0x31, 0xf8, 0x56, 0xad, 0x47,
		0x11, 0x6b, 0x45, 0xa9, 0x50, 0x32, 0x82, 0x04, 0xb4, 0xf4,
		0x4b, 0xfb, 0x6b, 0x3a, 0x4b, 0x4f, 0x1f, 0x3f, 0xcb, 0x63,
		0x16, 0x43,
	};
	static const unsigned char want_key[16] = {
		0x9f, 0x02, 0x28, 0x3b, 0x6c, 0x9c, 0x07, 0xef, 0xc2, 0x6b,
		0xb9, 0xf2, 0xac, 0x92, 0xe3, 0x56,
	};
	static const unsigned char want_iv[KTLS_IV_LEN] = {
		0xcf, 0x78, 0x2b, 0x88, 0xdd, 0x83, 0x54, 0x9a, 0xad, 0xf1,
		0xe9, 0x84,
	};
	unsigned char key[16], iv[KTLS_IV_LEN];
	int ret;

	ret = ktls__derive_key_iv("SHA256", secret, sizeof(secret), key,
				  sizeof(key), iv);
	check(!ret && !memcmp(key, want_key, sizeof(key)) &&
	      !memcmp(iv, want_iv, sizeof(iv)), "rfc8448", "key and iv",
	      "derivation %s", ret ? "failed" : "differs");
}

static void other_keylog(const SSL *ssl, const char *line)
{
}

static void test_keylog_attach(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	if (!ctx) {
		check(false, "attach", "ctx", "SSL_CTX_new failed");
		return;
	}
	check(!ktls__keylog_attach(ctx) && !ktls__keylog_attach(ctx),
	      "attach", "idempotent", "second attach failed");
	SSL_CTX_set_keylog_callback(ctx, other_keylog);
	check(ktls__keylog_attach(ctx) == -EBUSY, "attach",
	      "foreign callback kept", "did not refuse");
	SSL_CTX_free(ctx);
}

struct tls_stat {
	long long tx_sw, rx_sw, decrypt_err;
};

static int tls_stat_read(struct tls_stat *st)
{
	char line[128], name[64];
	long long v;
	FILE *f;

	memset(st, 0, sizeof(*st));
	f = fopen("/proc/net/tls_stat", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lld", name, &v) != 2)
			continue;
		if (!strcmp(name, "TlsTxSw"))
			st->tx_sw = v;
		else if (!strcmp(name, "TlsRxSw"))
			st->rx_sw = v;
		else if (!strcmp(name, "TlsDecryptError"))
			st->decrypt_err = v;
	}
	fclose(f);
	return 0;
}

static void test_ktls(const char *name, const char *suite)
{
	struct tls_stat a, b;

	/* The availability probe loaded tls.ko, so the file exists. */
	check(!tls_stat_read(&a), name, "tls_stat readable", "%s",
	      strerror(errno));
	run_pair(name, suite, role_ktls, role_ktls);
	check(!tls_stat_read(&b), name, "tls_stat readable after", "%s",
	      strerror(errno));
	printf("     tls_stat: TlsTxSw %lld -> %lld, TlsRxSw %lld -> %lld, TlsDecryptError %lld -> %lld\n",
	       a.tx_sw, b.tx_sw, a.rx_sw, b.rx_sw, a.decrypt_err,
	       b.decrypt_err);
	check(b.tx_sw - a.tx_sw >= 2 && b.rx_sw - a.rx_sw >= 2, name,
	      "kernel crypto on both ends", "TlsTxSw/TlsRxSw did not rise by 2");
	check(b.decrypt_err == 0, name, "no decrypt errors",
	      "TlsDecryptError is %lld", b.decrypt_err);
}

static int summary(int rc)
{
	printf("ktls_selftest: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : rc;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	test_key_schedule();
	test_keylog_attach();
	if (make_cert()) {
		check(false, "setup", "certificate", "could not make one");
		return summary(1);
	}
	expect_install = EOPNOTSUPP;
	run_pair("chacha20", "TLS_CHACHA20_POLY1305_SHA256", role_untouched,
		 role_untouched);
	if (!ktls__available()) {
		expect_install = ENOPROTOOPT;
		run_pair("fallback", "TLS_AES_128_GCM_SHA256", role_untouched,
			 role_untouched);
		printf("ktls_selftest: SKIP kTLS data tests: this kernel has no kTLS (setsockopt TCP_ULP \"tls\" fails with ENOENT: CONFIG_TLS off or tls.ko missing)\n");
		return summary(EXIT_SKIP);
	}
	test_ktls("aes128gcm", "TLS_AES_128_GCM_SHA256");
	test_ktls("aes256gcm", "TLS_AES_256_GCM_SHA384");
	run_pair("keyupdate", "TLS_AES_128_GCM_SHA256", role_keyupdate,
		 role_keyupdate);
	X509_free(cert);
	EVP_PKEY_free(cert_key);
	return summary(0);
}
