// SPDX-License-Identifier: Apache-2.0
/*
 * The node CA on disk (docs/state-dir.md): STATE/ca/ca.json, the index, and
 * one <serial>.crt / <serial>.key pair per CA generation.
 *
 * Reading is strict: an unknown key, a wrong type, a missing file or a file
 * that does not match the index is an error that names the file, and the
 * file is left as it is for the operator to look at. Guessing would mean
 * signing with, or publishing, something nobody chose.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/authority_int.h"

static const char *const index_keys_v1[] = {
	"version", "trust_domain", "ca_ttl", "svid_ttl", "upstream",
	"current", "next", "retired", "fleet", NULL
};
static const char *const index_keys[] = {
	"version", "trust_domain", "ca_ttl", "svid_ttl", "upstream",
	"current", "next", "retired", "jwt", "fleet", NULL
};
static const char *const upstream_keys[] = { "cert", "key", NULL };
static const char *const fleet_keys[] = { "node", NULL };

int ca__path(char *buf, size_t size, const char *dir, const char *rel,
	     struct nt_err *err)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, rel) >= size)
		return nt_err_set(err, -ENAMETOOLONG, "path too long: %s/%s",
				  dir, rel);
	return 0;
}

int ca__gen_path(char *buf, size_t size, const char *dir, const char *serial,
		 const char *ext, struct nt_err *err)
{
	if ((size_t)snprintf(buf, size, "%s/" STATE_CA_DIR "/%s%s", dir,
			     serial, ext) >= size)
		return nt_err_set(err, -ENAMETOOLONG, "path too long under %s",
				  dir);
	return 0;
}

/* ---- locking ------------------------------------------------------------ */

/* The daemon and the CLI may both rotate; an exclusive flock on STATE/ca
 * makes each read-decide-write step atomic with respect to the other. */
int ca__lock(const char *dir, int *fd, struct nt_err *err)
{
	char path[PATH_MAX];
	int ret;

	ret = ca__path(path, sizeof(path), dir, STATE_CA_DIR, err);
	if (ret)
		return ret;
	*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return nt_err_set(err, -errno, "failed to open %s: %s", path,
				  strerror(errno));
	while (flock(*fd, LOCK_EX)) {
		if (errno == EINTR)
			continue;
		ret = -errno;
		close(*fd);
		*fd = -1;
		return nt_err_set(err, ret, "failed to lock %s: %s", path,
				  strerror(-ret));
	}
	return 0;
}

void ca__unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* drops the flock */
}

/* ---- ca.json: reading --------------------------------------------------- */

int ca__index_read(const char *dir, char **raw, size_t *len,
		   struct nt_err *err)
{
	char path[PATH_MAX];
	int ret;

	ret = ca__path(path, sizeof(path), dir, STATE_CA_FILE, err);
	if (ret)
		return ret;
	ret = state__read(path, CA_INDEX_MAX_BYTES, false, raw, len, err);
	if (ret == -ENOENT)
		return nt_err_set(err, -ENOENT,
				  "no CA in %s (%s is missing): run `nametag ca init` first",
				  dir, path);
	return ret;
}

struct index_gens {
	char serial[CA_GEN_MAX][CA_SERIAL_HEX_MAX + 1];
	enum ca_slot slot[CA_GEN_MAX];
	bool jwt[CA_GEN_MAX];		/* has a JWT-SVID key */
	size_t n;
};

/* The canonical form x509__serial_hex gives: it is also a file name, so
 * nothing but lowercase hex digits may reach a path. */
static bool serial_ok(const char *s)
{
	size_t len = strlen(s), i;

	if (len == 0 || len > CA_SERIAL_HEX_MAX || (len > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static const cJSON *index_item(const cJSON *obj, const char *key,
			       const char *file, struct nt_err *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!it)
		nt_err_set(err, -EINVAL, "%s: missing key \"%s\"", file, key);
	return it;
}

static int index_int(const cJSON *root, const char *key, int64_t min,
		     int64_t max, int64_t *out, const char *file,
		     struct nt_err *err)
{
	return ca__json_int(root, key, min, max, out, file, err);
}

static int index_add_serial(struct index_gens *ig, const cJSON *it,
			    enum ca_slot slot, const char *what,
			    const char *file, struct nt_err *err)
{
	size_t i;

	if (!cJSON_IsString(it) || !serial_ok(it->valuestring))
		return nt_err_set(err, -EINVAL,
				  "%s: %s must be a certificate serial in lowercase hex",
				  file, what);
	for (i = 0; i < ig->n; i++)
		if (!strcmp(ig->serial[i], it->valuestring))
			return nt_err_set(err, -EINVAL,
					  "%s: %s: serial %s is listed twice",
					  file, what, it->valuestring);
	strcpy(ig->serial[ig->n], it->valuestring);
	ig->slot[ig->n++] = slot;
	return 0;
}

static int index_abs_path(const cJSON *obj, const char *key, char **out,
			  const char *file, struct nt_err *err)
{
	const cJSON *it = index_item(obj, key, file, err);

	if (!it)
		return -EINVAL;
	if (!cJSON_IsString(it) || it->valuestring[0] != '/' ||
	    strlen(it->valuestring) >= PATH_MAX)
		return nt_err_set(err, -EINVAL,
				  "%s: key \"upstream.%s\" must be an absolute path",
				  file, key);
	*out = strdup(it->valuestring);
	return *out ? 0 : nt_err_set(err, -ENOMEM, "out of memory");
}

static int index_upstream(struct node_ca *ca, const cJSON *root,
			  const char *file, struct nt_err *err)
{
	const cJSON *up = index_item(root, "upstream", file, err);
	int ret;

	if (!up)
		return -EINVAL;
	if (cJSON_IsNull(up))
		return 0;
	if (!cJSON_IsObject(up))
		return nt_err_set(err, -EINVAL,
				  "%s: key \"upstream\" must be null or an object",
				  file);
	ret = json__only_keys(up, upstream_keys, "upstream", err);
	if (ret)
		return nt_err_prefix(err, ret, file);
	ret = index_abs_path(up, "cert", &ca->up_cert, file, err);
	if (!ret)
		ret = index_abs_path(up, "key", &ca->up_key, file, err);
	return ret;
}

/* "fleet": {"node": NAME}, present only in fleet mode (docs/fleet.md), so
 * the index of the other modes reads as it always did. */
static int index_fleet(struct node_ca *ca, const cJSON *root,
		       const char *file, struct nt_err *err)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "fleet");
	const cJSON *node;
	int ret;

	if (!f)
		return 0;
	if (!cJSON_IsObject(f) || ca->up_cert)
		return nt_err_set(err, -EINVAL,
				  "%s: key \"fleet\" must be an object, and excludes \"upstream\"",
				  file);
	ret = json__only_keys(f, fleet_keys, "fleet", err);
	if (ret)
		return nt_err_prefix(err, ret, file);
	node = index_item(f, "node", file, err);
	if (!node)
		return -EINVAL;
	if (!cJSON_IsString(node) || node_name__check(node->valuestring, err))
		return nt_err_set(err, -EINVAL,
				  "%s: key \"fleet.node\" must be a node name", file);
	ca->node = strdup(node->valuestring);
	return ca->node ? 0 : nt_err_set(err, -ENOMEM, "out of memory");
}

static int index_serials(struct index_gens *ig, const cJSON *root,
			 const char *file, struct nt_err *err)
{
	const cJSON *it, *e;
	int ret;

	it = index_item(root, "current", file, err);
	if (!it)
		return -EINVAL;
	ret = index_add_serial(ig, it, CA_SLOT_CURRENT, "key \"current\"",
			       file, err);
	if (ret)
		return ret;
	it = index_item(root, "next", file, err);
	if (!it)
		return -EINVAL;
	if (!cJSON_IsNull(it)) {
		ret = index_add_serial(ig, it, CA_SLOT_NEXT, "key \"next\"",
				       file, err);
		if (ret)
			return ret;
	}
	it = index_item(root, "retired", file, err);
	if (!it)
		return -EINVAL;
	if (!cJSON_IsArray(it))
		return nt_err_set(err, -EINVAL,
				  "%s: key \"retired\" must be an array", file);
	if (cJSON_GetArraySize(it) > CA_RETIRED_MAX)
		return nt_err_set(err, -E2BIG, "%s: more than %d retired CAs",
				  file, CA_RETIRED_MAX);
	cJSON_ArrayForEach(e, it) {
		ret = index_add_serial(ig, e, CA_SLOT_RETIRED,
				       "key \"retired\" entry", file, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* "jwt": the serials of the generations that carry a JWT-SVID key. Every
 * generation that signs or will sign must: only one retired before the
 * index had JWT keys may lack it. */
static int index_jwt(struct index_gens *ig, const cJSON *root,
		     const char *file, struct nt_err *err)
{
	const cJSON *it = index_item(root, "jwt", file, err), *e;
	size_t i;

	if (!it)
		return -EINVAL;
	if (!cJSON_IsArray(it))
		return nt_err_set(err, -EINVAL, "%s: key \"jwt\" must be an array",
				  file);
	cJSON_ArrayForEach(e, it) {
		for (i = 0; cJSON_IsString(e) && i < ig->n; i++)
			if (!strcmp(ig->serial[i], e->valuestring))
				break;
		if (!cJSON_IsString(e) || i == ig->n || ig->jwt[i])
			return nt_err_set(err, -EINVAL,
					  "%s: \"jwt\" must list generations of this index, each once",
					  file);
		ig->jwt[i] = true;
	}
	for (i = 0; i < ig->n; i++)
		if (ig->slot[i] != CA_SLOT_RETIRED && !ig->jwt[i])
			return nt_err_set(err, -EINVAL,
					  "%s: generation %s signs but has no JWT-SVID key in \"jwt\"",
					  file, ig->serial[i]);
	return 0;
}

static int index_td(struct node_ca *ca, const cJSON *root, const char *file,
		    struct nt_err *err)
{
	const cJSON *it = index_item(root, "trust_domain", file, err);
	int ret;

	if (!it)
		return -EINVAL;
	if (!cJSON_IsString(it))
		return nt_err_set(err, -EINVAL,
				  "%s: key \"trust_domain\" must be a string", file);
	ret = spiffe_td__check(it->valuestring, strlen(it->valuestring), err);
	if (ret)
		return nt_err_prefix(err, ret, file);
	strcpy(ca->td, it->valuestring);
	return 0;
}

static int index_parse(struct node_ca *ca, struct index_gens *ig,
		       const char *raw, size_t len, const char *file,
		       struct nt_err *err)
{
	cJSON *root = NULL;
	int64_t version = 0;
	int ret;

	ret = json__parse_strict(raw, len, &root, err);
	if (ret)
		return nt_err_prefix(err, ret, file);
	ret = index_int(root, "version", 0, INT32_MAX, &version, file, err);
	/* Version 1 has no JWT-SVID keys; ca__jwt_migrate adds them. */
	if (!ret && version != 1 && version != CA_INDEX_VERSION)
		ret = nt_err_set(err, -EPROTONOSUPPORT,
				 "%s: version %lld is not supported (expected 1 or %d)",
				 file, (long long)version, CA_INDEX_VERSION);
	if (!ret) {
		ret = json__only_keys(root, version == 1 ? index_keys_v1 :
					    index_keys, "ca index", err);
		if (ret)
			nt_err_prefix(err, ret, file);
	}
	if (!ret)
		ret = index_td(ca, root, file, err);
	if (!ret)
		ret = index_int(root, "ca_ttl", 1, CA_TTL_MAX, &ca->ca_ttl,
				file, err);
	if (!ret)
		ret = index_int(root, "svid_ttl", 1, ca->ca_ttl / 2,
				&ca->svid_ttl, file, err);
	if (!ret)
		ret = index_upstream(ca, root, file, err);
	if (!ret)
		ret = index_fleet(ca, root, file, err);
	if (!ret)
		ret = index_serials(ig, root, file, err);
	if (!ret && version > 1)
		ret = index_jwt(ig, root, file, err);
	cJSON_Delete(root);
	return ret;
}

/* ---- generations: reading ----------------------------------------------- */

/* Fleet mode: the node CA signed by the chain after it, carrying a scope
 * for this node. */
static int gen_check_fleet(const struct node_ca *ca, const struct ca_gen *g,
			   const char *file, struct nt_err *err)
{
	X509 *cert = ca_gen__cert(g);

	if (sk_X509_num(g->certs) < 2 ||
	    X509_check_issued(sk_X509_value(g->certs, 1), cert) != X509_V_OK ||
	    X509_verify(cert, X509_get0_pubkey(sk_X509_value(g->certs, 1))) != 1) {
		ERR_clear_error();
		return nt_err_set(err, -EINVAL,
				  "%s: expected the node CA followed by the chain that signed it",
				  file);
	}
	if (!g->scope || strcmp(g->scope->node, ca->node))
		return nt_err_set(err, -EINVAL,
				  "%s: the certificate carries no scope for node '%s'",
				  file, ca->node);
	return 0;
}

/* The mode of the index and the shape of the file must agree, and the
 * certificate must be the signing certificate of this trust domain. */
static int gen_check(const struct node_ca *ca, const struct ca_gen *g,
		     const char *file, struct nt_err *err)
{
	X509 *cert = ca_gen__cert(g);
	int n = sk_X509_num(g->certs);
	struct spiffe_id id;
	char serial[CA_SERIAL_HEX_MAX + 1];

	if (x509__serial_hex(cert, serial, sizeof(serial)) ||
	    strcmp(serial, g->serial))
		return nt_err_set(err, -EINVAL,
				  "%s: certificate serial does not match the file name",
				  file);
	if (x509__spiffe_id(cert, &id, err))
		return nt_err_prefix(err, -EINVAL, file);
	if (strcmp(id.td, ca->td) || spiffe_id__path_len(&id))
		return nt_err_set(err, -EINVAL,
				  "%s: certificate ID %s is not spiffe://%s",
				  file, id.str, ca->td);
	if (X509_check_ca(cert) != 1)
		return nt_err_set(err, -EINVAL, "%s: not a CA certificate",
				  file);
	if (ca->node)
		return gen_check_fleet(ca, g, file, err);
	if (!ca->up_cert && (n != 1 || X509_self_signed(cert, 1) != 1))
		goto mode;
	if (ca->up_cert &&
	    (n < 2 || X509_check_issued(sk_X509_value(g->certs, 1), cert) !=
			      X509_V_OK ||
	     X509_verify(cert, X509_get0_pubkey(sk_X509_value(g->certs, 1))) != 1))
		goto mode;
	return 0;
mode:
	ERR_clear_error();
	return nt_err_set(err, -EINVAL,
			  "%s: expected %s", file,
			  ca->up_cert ? "the node CA followed by the upstream chain that signed it" :
					"one self-signed CA certificate");
}

static int gen_load_key(const char *dir, struct ca_gen *g, struct nt_err *err)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	int ret;

	ret = ca__gen_path(path, sizeof(path), dir, g->serial, ".key", err);
	if (!ret)
		ret = state__read(path, CA_KEY_MAX_BYTES, true, &buf, &len, err);
	if (ret)
		return ret;
	ret = pem__read_key(buf, len, &g->key, err);
	state__free_secret(buf, len);
	if (ret)
		return nt_err_prefix(err, ret, path);
	if (EVP_PKEY_eq(g->key, X509_get0_pubkey(ca_gen__cert(g))) != 1) {
		ERR_clear_error();
		return nt_err_set(err, -EINVAL,
				  "%s does not match certificate %s.crt", path,
				  g->serial);
	}
	return 0;
}

/* Retired generations are loaded without their keys: they never sign. */
static int gen_load(const struct node_ca *ca, const char *serial,
		    bool with_key, bool with_jwt, struct ca_gen **out,
		    struct nt_err *err)
{
	struct ca_gen *g = calloc(1, sizeof(*g));
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	int ret;

	if (!g)
		return nt_err_set(err, -ENOMEM, "out of memory");
	strcpy(g->serial, serial);
	ret = ca__gen_path(path, sizeof(path), ca->dir, serial, ".crt", err);
	if (!ret)
		ret = state__read(path, CA_CERT_MAX_BYTES, false, &buf, &len,
				  err);
	if (ret)
		goto fail;
	ret = pem__read_certs(buf, len, &g->certs, err);
	free(buf);
	if (ret) {
		nt_err_prefix(err, ret, path);
		goto fail;
	}
	if (ca__gen_finish(g)) {
		ret = nt_err_set(err, -EINVAL, "%s: unreadable certificate",
				 path);
		goto fail;
	}
	ret = gen_check(ca, g, path, err);
	if (!ret && with_key)
		ret = gen_load_key(ca->dir, g, err);
	if (!ret && with_jwt)
		ret = ca__jwt_load(ca->dir, g, with_key, err);
	if (ret)
		goto fail;
	*out = g;
	return 0;
fail:
	ca__gen_free(g);
	return ret;
}

void ca__free(struct node_ca *ca)
{
	size_t i;

	if (!ca)
		return;
	for (i = 0; i < ca->set.n; i++)
		ca__gen_free(ca->set.gen[i]);
	bundle__free(ca->bundle);
	free(ca->index_raw);
	free(ca->up_cert);
	free(ca->up_key);
	free(ca->node);
	free(ca->dir);
	free(ca);
}

int ca__load(const char *dir, const char *raw, size_t len,
	     struct node_ca **out, struct nt_err *err)
{
	struct node_ca *ca = calloc(1, sizeof(*ca));
	struct index_gens ig = { .n = 0 };
	char file[PATH_MAX];
	size_t i;
	int ret;

	if (!ca)
		return nt_err_set(err, -ENOMEM, "out of memory");
	ca->dir = strdup(dir);
	ca->index_raw = malloc(len + 1);
	if (!ca->dir || !ca->index_raw) {
		ret = nt_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(ca->index_raw, raw, len);
	ca->index_raw[len] = '\0';
	ca->index_len = len;
	ret = ca__path(file, sizeof(file), dir, STATE_CA_FILE, err);
	if (!ret)
		ret = index_parse(ca, &ig, raw, len, file, err);
	for (i = 0; !ret && i < ig.n; i++) {
		ret = gen_load(ca, ig.serial[i], ig.slot[i] != CA_SLOT_RETIRED,
			       ig.jwt[i], &ca->set.gen[i], err);
		if (!ret) {
			ca->set.slot[i] = ig.slot[i];
			ca->set.n++;
		}
	}
	if (ret)
		goto fail;
	*out = ca;
	return 0;
fail:
	ca__free(ca);
	return ret;
}

/* ---- writing ------------------------------------------------------------- */

static cJSON *index_build(const struct node_ca *ca, const struct ca_set *set)
{
	cJSON *root = cJSON_CreateObject(), *up, *retired, *jwt;
	bool ok = root != NULL;
	size_t i = 1;

	ok = ok && cJSON_AddNumberToObject(root, "version", CA_INDEX_VERSION);
	ok = ok && cJSON_AddStringToObject(root, "trust_domain", ca->td);
	ok = ok && cJSON_AddNumberToObject(root, "ca_ttl", (double)ca->ca_ttl);
	ok = ok && cJSON_AddNumberToObject(root, "svid_ttl", (double)ca->svid_ttl);
	if (ok && ca->up_cert) {
		up = cJSON_AddObjectToObject(root, "upstream");
		ok = up && cJSON_AddStringToObject(up, "cert", ca->up_cert) &&
		     cJSON_AddStringToObject(up, "key", ca->up_key);
	} else {
		ok = ok && cJSON_AddNullToObject(root, "upstream");
	}
	if (ok && ca->node) {
		up = cJSON_AddObjectToObject(root, "fleet");
		ok = up && cJSON_AddStringToObject(up, "node", ca->node);
	}
	ok = ok && cJSON_AddStringToObject(root, "current", set->gen[0]->serial);
	if (ok && set->n > 1 && set->slot[1] == CA_SLOT_NEXT)
		ok = cJSON_AddStringToObject(root, "next", set->gen[i++]->serial);
	else
		ok = ok && cJSON_AddNullToObject(root, "next");
	retired = ok ? cJSON_AddArrayToObject(root, "retired") : NULL;
	ok = retired != NULL;
	for (; ok && i < set->n; i++)
		ok = cJSON_AddItemToArray(retired,
					  cJSON_CreateString(set->gen[i]->serial));
	jwt = ok ? cJSON_AddArrayToObject(root, "jwt") : NULL;
	ok = jwt != NULL;
	for (i = 0; ok && i < set->n; i++)
		if (set->gen[i]->jwt_pub)
			ok = cJSON_AddItemToArray(jwt,
						  cJSON_CreateString(set->gen[i]->serial));
	if (!ok) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* Writes ca.json for @set; on success *raw holds the bytes written. */
int ca__index_write(const struct node_ca *ca, const struct ca_set *set,
		    char **raw, size_t *len, struct nt_err *err)
{
	char path[PATH_MAX], *text = NULL, *buf;
	cJSON *root;
	size_t n;
	int ret;

	ret = ca__path(path, sizeof(path), ca->dir, STATE_CA_FILE, err);
	if (ret)
		return ret;
	root = index_build(ca, set);
	if (root)
		text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return nt_err_set(err, -ENOMEM, "out of memory");
	n = strlen(text);
	buf = malloc(n + 2);
	if (!buf) {
		cJSON_free(text);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(buf, text, n);
	buf[n++] = '\n';
	buf[n] = '\0';
	cJSON_free(text);
	ret = state__write(path, buf, n, 0600, err);
	if (ret) {
		free(buf);
		return ret;
	}
	*raw = buf;
	*len = n;
	return 0;
}

static int gen_save_key(const char *dir, const struct ca_gen *g,
			struct nt_err *err)
{
	char path[PATH_MAX], *pem = NULL;
	size_t len = 0;
	int ret;

	ret = ca__gen_path(path, sizeof(path), dir, g->serial, ".key", err);
	if (!ret)
		ret = pem__write_key(g->key, &pem, &len, err);
	if (ret)
		return ret;
	ret = state__write(path, pem, len, 0600, err);
	state__free_secret(pem, len);
	return ret;
}

int ca__gen_save(const char *dir, const struct ca_gen *g, struct nt_err *err)
{
	int n = sk_X509_num(g->certs), i, ret;
	char path[PATH_MAX], *pem = NULL;
	X509 *certs[CA_CHAIN_MAX + 1];
	size_t len = 0;

	if (n > (int)(sizeof(certs) / sizeof(certs[0])))
		return nt_err_set(err, -E2BIG, "upstream chain longer than %d",
				  CA_CHAIN_MAX);
	for (i = 0; i < n; i++)
		certs[i] = sk_X509_value(g->certs, i);
	ret = gen_save_key(dir, g, err);
	if (!ret && g->jwt_pub)
		ret = ca__jwt_save(dir, g, err);
	if (!ret)
		ret = ca__gen_path(path, sizeof(path), dir, g->serial, ".crt",
				   err);
	if (!ret)
		ret = pem__write_certs(certs, (size_t)n, &pem, &len, err);
	if (!ret)
		ret = state__write(path, pem, len, 0644, err);
	free(pem);
	return ret;
}

/* Best effort: a file left behind is an orphan nothing refers to. */
void ca__gen_unlink(const char *dir, const struct ca_gen *g, bool cert_too)
{
	char path[PATH_MAX];

	if (!ca__gen_path(path, sizeof(path), dir, g->serial, ".key", NULL))
		unlink(path);
	if (cert_too &&
	    !ca__gen_path(path, sizeof(path), dir, g->serial, ".crt", NULL))
		unlink(path);
	ca__jwt_unlink(dir, g, cert_too);
}
