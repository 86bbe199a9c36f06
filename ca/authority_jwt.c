// SPDX-License-Identifier: Apache-2.0
/*
 * JWT-SVID signing keys of the node CA (docs/ca.md, "JWT-SVID keys").
 *
 * Each CA generation carries one P-256 JWT signing key, as SPIRE pairs its
 * JWT key with its X.509 CA: made when the generation is prepared, so it is
 * in the bundle before it signs; signing while the generation is current;
 * published until the generation expires once retired, its private half
 * deleted at retirement. Its kid is its RFC 7638 thumbprint, so the kid
 * follows from the key and needs no storing.
 *
 * Files, next to the generation's certificate: STATE/ca/<serial>.jwt.pub
 * (PEM SubjectPublicKeyInfo, 0644) and STATE/ca/<serial>.jwt.key (PKCS#8
 * PEM, 0600, refused when looser).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca/authority_int.h"
#include "ca/jwk_int.h"

#define JWT_PUB_EXT	".jwt.pub"
#define JWT_KEY_EXT	".jwt.key"
#define JWT_PUB_MAX	(16u << 10)

static int set_pub(struct ca_gen *g, EVP_PKEY *pub, struct nt_err *err)
{
	if (jwk__ec_size(pub) != 32)
		return nt_err_set(err, -EINVAL,
				  "a JWT-SVID signing key must be EC P-256");
	if (jwk__thumbprint(pub, g->jwt_kid, sizeof(g->jwt_kid)))
		return nt_err_set(err, -ENOMEM, "failed to compute a kid");
	g->jwt_pub = pub;
	return 0;
}

/* The public half alone, so a retired generation holds nothing secret. */
static EVP_PKEY *public_copy(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int n = i2d_PUBKEY(key, &der);

	if (n > 0) {
		p = der;
		pub = d2i_PUBKEY(NULL, &p, n);
	}
	OPENSSL_free(der);
	ERR_clear_error();
	return pub;
}

int ca__jwt_create(struct ca_gen *g, struct nt_err *err)
{
	EVP_PKEY *key = NULL, *pub;
	int ret;

	ret = key__generate(&key, err);
	if (ret)
		return ret;
	pub = public_copy(key);
	if (!pub) {
		EVP_PKEY_free(key);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	ret = set_pub(g, pub, err);
	if (ret) {
		EVP_PKEY_free(pub);
		EVP_PKEY_free(key);
		return ret;
	}
	g->jwt_key = key;
	return 0;
}

void ca__jwt_free(struct ca_gen *g, bool pub_too)
{
	EVP_PKEY_free(g->jwt_key);	/* clears the private scalar */
	g->jwt_key = NULL;
	if (!pub_too)
		return;
	EVP_PKEY_free(g->jwt_pub);
	g->jwt_pub = NULL;
	g->jwt_kid[0] = '\0';
}

static int pub_pem(EVP_PKEY *pub, char **pem, size_t *len, struct nt_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int ret = -EIO;

	if (!bio)
		return nt_err_set(err, -ENOMEM, "out of memory");
	if (PEM_write_bio_PUBKEY(bio, pub) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		goto out;
	*pem = malloc((size_t)n);
	ret = *pem ? 0 : -ENOMEM;
	if (*pem) {
		memcpy(*pem, data, (size_t)n);
		*len = (size_t)n;
	}
out:
	BIO_free(bio);
	if (ret)
		return nt_err_ssl(err, ret, "failed to encode a JWT public key");
	return 0;
}

int ca__jwt_save(const char *dir, const struct ca_gen *g, struct nt_err *err)
{
	char path[PATH_MAX], *pem = NULL;
	size_t len = 0;
	int ret = 0;

	if (g->jwt_key) {
		ret = ca__gen_path(path, sizeof(path), dir, g->serial,
				   JWT_KEY_EXT, err);
		if (!ret)
			ret = pem__write_key(g->jwt_key, &pem, &len, err);
		if (!ret) {
			ret = state__write(path, pem, len, 0600, err);
			state__free_secret(pem, len);
		}
		pem = NULL;
	}
	if (!ret)
		ret = ca__gen_path(path, sizeof(path), dir, g->serial,
				   JWT_PUB_EXT, err);
	if (!ret)
		ret = pub_pem(g->jwt_pub, &pem, &len, err);
	if (!ret)
		ret = state__write(path, pem, len, 0644, err);
	free(pem);
	return ret;
}

static int load_pub(const char *path, EVP_PKEY **pub, struct nt_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	BIO *bio;
	int ret;

	ret = state__read(path, JWT_PUB_MAX, false, &buf, &len, err);
	if (ret)
		return ret;
	bio = BIO_new_mem_buf(buf, (int)len);
	*pub = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	free(buf);
	if (!*pub)
		return nt_err_ssl(err, -EINVAL, "not a readable public key");
	return 0;
}

int ca__jwt_load(const char *dir, struct ca_gen *g, bool with_key,
		 struct nt_err *err)
{
	char path[PATH_MAX], *buf = NULL;
	EVP_PKEY *pub = NULL;
	size_t len = 0;
	int ret;

	ret = ca__gen_path(path, sizeof(path), dir, g->serial, JWT_PUB_EXT, err);
	if (!ret)
		ret = load_pub(path, &pub, err);
	if (!ret) {
		ret = set_pub(g, pub, err);
		if (ret)
			EVP_PKEY_free(pub);
	}
	if (ret)
		return nt_err_prefix(err, ret, path);
	if (!with_key)
		return 0;
	ret = ca__gen_path(path, sizeof(path), dir, g->serial, JWT_KEY_EXT, err);
	if (!ret)
		ret = state__read(path, CA_KEY_MAX_BYTES, true, &buf, &len, err);
	if (ret)
		return ret;
	ret = pem__read_key(buf, len, &g->jwt_key, err);
	state__free_secret(buf, len);
	if (ret)
		return nt_err_prefix(err, ret, path);
	if (EVP_PKEY_eq(g->jwt_key, g->jwt_pub) != 1) {
		ERR_clear_error();
		return nt_err_set(err, -EINVAL, "%s does not match %s%s", path,
				  g->serial, JWT_PUB_EXT);
	}
	return 0;
}

/* Best effort, like ca__gen_unlink. */
void ca__jwt_unlink(const char *dir, const struct ca_gen *g, bool pub_too)
{
	char path[PATH_MAX];

	if (!ca__gen_path(path, sizeof(path), dir, g->serial, JWT_KEY_EXT, NULL))
		unlink(path);
	if (pub_too &&
	    !ca__gen_path(path, sizeof(path), dir, g->serial, JWT_PUB_EXT, NULL))
		unlink(path);
}

/*
 * A state dir from before JWT-SVIDs (index version 1): the current and next
 * generations get a JWT key each, committed like any change (files, then
 * the bundle, then ca.json at version 2). The current one signs at once:
 * there was no earlier JWT key a peer could be relying on. Generations
 * already retired stay without one.
 */
int ca__jwt_migrate(struct node_ca *ca, bool *changed, struct nt_err *err)
{
	struct ca_set next = ca->set;
	bool made[CA_GEN_MAX] = { false };
	struct ca_gen *g;
	size_t i;
	int ret = 0;

	*changed = false;
	for (i = 0; !ret && i < ca->set.n; i++) {
		g = ca->set.gen[i];
		if (ca->set.slot[i] == CA_SLOT_RETIRED || g->jwt_pub)
			continue;
		ret = ca__jwt_create(g, err);
		made[i] = !ret;
		if (!ret)
			ret = ca__jwt_save(ca->dir, g, err);
		*changed = true;
	}
	if (!ret && *changed)
		ret = ca__commit(ca, &next, err);
	for (i = 0; ret && i < ca->set.n; i++) {
		if (!made[i])
			continue;
		ca__jwt_unlink(ca->dir, ca->set.gen[i], true);
		ca__jwt_free(ca->set.gen[i], true);
	}
	return ret;
}
