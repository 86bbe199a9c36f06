// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for jwt_svid__validate: a JWT-SVID handed to
 * ValidateJWTSVID is outside input. The trust store holds two fixed public
 * keys (example.org: kid "k256", P-256, and "k384", P-384); the seed
 * corpus has tokens they verify, at the fixed instant NOW, so mutations
 * reach the claims and the signature check.
 *
 * Whatever validates must hold together: a subject of example.org with a
 * path, an expiry not passed, a claims object, and the same verdict a
 * second time. Anything else is a bug, so abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/pem.h>

#include "ca/ca.h"
#include "tests/fuzz/fuzz.h"

#define NOW	((time_t)1750000000)

static const char pub256[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQqw68uF+9QxXvrZhqNCqymYWSuKu\n"
	"Cc0O7gAULtVF+v7T56KD/RKv8jn38d1YfFPEpTbNhFq7OOQ63FF46Yvy7g==\n"
	"-----END PUBLIC KEY-----\n";
static const char pub384[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEe1DepWRWisgEFw3gxj4jRx2QYVxdHlcJ\n"
	"aiYu1nwGe18kjtungugzjGwNFZ4g2vNhUo/AvW/yVFafuJofB88wlnc84yUzRegl\n"
	"iDt44E5UMyRYhfCKC5Q4L6LdZvKV2v5l\n"
	"-----END PUBLIC KEY-----\n";

static struct bundle_set *set;

static void fail(const char *what, const struct nt_err *err)
{
	fprintf(stderr, "fuzz_jwt: %s: %s\n", what, err ? err->msg : "");
	abort();
}

static void add_key(struct bundle *b, const char *kid, const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	struct nt_err err = { "" };

	if (!k || bundle__add_jwt_authority(b, kid, k, &err) != 1)
		fail("fixture key", &err);
	EVP_PKEY_free(k);
	BIO_free(bio);
}

static void setup(void)
{
	struct nt_err err = { "" };
	struct bundle *b = NULL;

	if (bundle_set__new(&set) || bundle__new(&b, "example.org", &err))
		fail("fixture bundle", &err);
	add_key(b, "k256", pub256);
	add_key(b, "k384", pub384);
	if (bundle_set__add(set, b, &err))
		fail("fixture set", &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_verify_opts o = { .now = NOW, .leeway = JWT_SVID_LEEWAY };
	struct jwt_svid *s = NULL, *again = NULL;
	struct nt_err err = { "" };
	int ret;

	if (!set)
		setup();
	ret = jwt_svid__validate((const char *)data, size, "db", set, &o, &s,
				 &err);
	if (ret) {
		if (s || !err.msg[0])
			fail("a failure without its reason", &err);
		return 0;
	}
	if (strcmp(s->id.td, "example.org") || !spiffe_id__path_len(&s->id))
		fail("validated a subject of another trust domain", NULL);
	if (s->expiry + o.leeway < NOW || !cJSON_IsObject(s->claims))
		fail("validated an expired or claimless token", NULL);
	if (jwt_svid__validate((const char *)data, size, "db", set, &o, &again,
			       &err) || !spiffe_id__equal(&s->id, &again->id))
		fail("a second validation disagrees", &err);
	jwt_svid__free(again);
	jwt_svid__free(s);
	return 0;
}
