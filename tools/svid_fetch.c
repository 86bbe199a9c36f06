// SPDX-License-Identifier: Apache-2.0
/*
 * nametag svid fetch: the caller's X.509-SVID through the Workload API
 * (tools/wlclient.c), as the calling process. Without --write it prints
 * the first message and ends the stream. With --write DIR it is the
 * spiffe-helper job for software that reads certificate files: on every
 * message of the stream (the first, then each rotation or bundle change)
 * it writes DIR/svid.pem (the chain, leaf first), DIR/svid.key (PKCS#8,
 * 0600) and DIR/bundle.pem (the SVID's trust domain), each atomically,
 * then runs CMD of --exec (e.g. a reload), until the stream ends.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tools/main.h"
#include "workload.pb-c.h"

struct fetch {
	const char *dir, *exec;
	unsigned int n;			/* messages handled */
	int err;			/* why the stream was ended */
};

/* PEM of concatenated DER certificates, malloc'd into *@out. */
static int certs_pem(const ProtobufCBinaryData *der, char **out, size_t *len)
{
	const unsigned char *p = der->data, *end = der->data + der->len;
	BIO *b = BIO_new(BIO_s_mem());
	X509 *x;
	char *mem;
	long n;
	int ret = -EINVAL;

	if (!b)
		return -ENOMEM;
	while (p < end) {
		x = d2i_X509(NULL, &p, end - p);
		if (!x || !PEM_write_bio_X509(b, x)) {
			X509_free(x);
			goto out;
		}
		X509_free(x);
	}
	n = BIO_get_mem_data(b, &mem);
	if (n <= 0)
		goto out;
	*out = malloc((size_t)n);
	if (!*out) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(*out, mem, (size_t)n);
	*len = (size_t)n;
	ret = 0;
out:
	BIO_free(b);
	return ret;
}

/* The unencrypted PKCS#8 DER key as PEM; the buffers are wiped. */
static int key_pem(const ProtobufCBinaryData *der, char **out, size_t *len)
{
	const unsigned char *p = der->data;
	EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)der->len);
	BIO *b = BIO_new(BIO_s_secmem());
	char *mem;
	long n;
	int ret = -EINVAL;

	if (k && b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) &&
	    (n = BIO_get_mem_data(b, &mem)) > 0) {
		*out = malloc((size_t)n);
		ret = *out ? 0 : -ENOMEM;
		if (*out) {
			memcpy(*out, mem, (size_t)n);
			*len = (size_t)n;
		}
	}
	EVP_PKEY_free(k);
	BIO_free(b);
	return ret;
}

static int write_one(const char *dir, const char *name, char *data, size_t len,
		     unsigned int mode, bool secret)
{
	char path[PATH_MAX];
	struct nt_err err = {};
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ret = state__write(path, data, len, mode, &err);
	if (secret)
		OPENSSL_cleanse(data, len);
	free(data);
	if (ret)
		p_err("%s", err.msg);
	return ret;
}

static int write_files(const struct fetch *f, const X509SVID *s)
{
	char *chain = NULL, *key = NULL, *bundle = NULL;
	size_t clen = 0, klen = 0, blen = 0;
	int ret;

	ret = certs_pem(&s->x509_svid, &chain, &clen);
	if (!ret)
		ret = certs_pem(&s->bundle, &bundle, &blen);
	if (!ret)
		ret = key_pem(&s->x509_svid_key, &key, &klen);
	if (ret) {
		free(chain);
		free(bundle);
		return p_err("the SVID received cannot be read: %s", strerror(-ret));
	}
	/* The key first: a reader that sees the new chain finds its key. */
	ret = write_one(f->dir, "svid.key", key, klen, 0600, true);
	if (!ret)
		ret = write_one(f->dir, "svid.pem", chain, clen, 0644, false);
	else
		free(chain);
	if (!ret)
		ret = write_one(f->dir, "bundle.pem", bundle, blen, 0644, false);
	else
		free(bundle);
	return ret;
}

static int run_exec(const char *cmd)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return p_err("fork: %s", strerror(errno));
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return p_err("waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		p_info("--exec '%s' failed (status %d)", cmd,
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}

static void print_svid(const X509SVIDResponse *r)
{
	const X509SVID *s = r->svids[0];
	cJSON *o;

	if (!json_output) {
		printf("%s\n\t%zu certificate bytes, bundle of %zu bytes, %zu federated bundle%s\n",
		       s->spiffe_id, s->x509_svid.len, s->bundle.len,
		       r->n_federated_bundles, r->n_federated_bundles == 1 ? "" : "s");
		return;
	}
	o = cJSON_CreateObject();
	if (o) {
		cJSON_AddStringToObject(o, "spiffe_id", s->spiffe_id);
		cJSON_AddNumberToObject(o, "svids", (double)r->n_svids);
		cJSON_AddNumberToObject(o, "federated_bundles",
					(double)r->n_federated_bundles);
	}
	json_emit(o);
}

static int on_svid(const uint8_t *m, size_t len, void *arg)
{
	struct fetch *f = arg;
	X509SVIDResponse *r = x509_svidresponse__unpack(NULL, len, m);
	int ret = 0;

	if (!r || !r->n_svids) {
		f->err = p_err("a FetchX509SVID message that cannot be read");
		ret = 1;
	} else if (!f->dir) {
		print_svid(r);
		ret = 1;		/* one is all that was asked */
	} else if (write_files(f, r->svids[0])) {
		f->err = -1;
		ret = 1;
	} else {
		p_info("wrote svid.pem, svid.key, bundle.pem for %s in %s",
		       r->svids[0]->spiffe_id, f->dir);
		if (f->exec)
			run_exec(f->exec);
	}
	f->n++;
	if (r) {
		/* It held the private key. */
		if (r->n_svids)
			OPENSSL_cleanse(r->svids[0]->x509_svid_key.data,
					r->svids[0]->x509_svid_key.len);
		x509_svidresponse__free_unpacked(r, NULL);
	}
	return ret;
}

int do_svid_fetch(int argc, char **argv)
{
	X509SVIDRequest req = X509_SVIDREQUEST__INIT;
	struct fetch f = {};
	const char *sock = NULL;
	struct wlc_result res;
	uint8_t buf[8];
	int fd, ret;

	while (argc > 0) {
		if (!strcmp(*argv, "--write"))
			GET_VALUE(f.dir);
		else if (!strcmp(*argv, "--exec"))
			GET_VALUE(f.exec);
		else if (!strcmp(*argv, "--socket"))
			GET_VALUE(sock);
		else
			return p_err("unknown argument '%s' for 'svid fetch'", *argv);
	}
	if (f.exec && !f.dir)
		return p_err("--exec needs --write DIR");
	if (f.dir && access(f.dir, W_OK))
		return p_err("%s: %s", f.dir, strerror(errno));
	fd = wlc_open(sock);
	if (fd < 0)
		return -1;
	ret = wlc_call(fd, "FetchX509SVID", buf,
		       x509_svidrequest__pack(&req, buf), on_svid, &f,
		       f.dir ? -1 : 10000, &res);
	close(fd);
	if (ret)
		return p_err("FetchX509SVID: %s", strerror(-ret));
	if (f.err)
		return -1;
	if (res.stopped && !f.dir)
		return 0;
	if (res.status != 0 || !f.n)
		return p_err("FetchX509SVID: %s%s%s", wlc_status_name(res.status),
			     res.message[0] ? ": " : "", res.message);
	return 0;
}
