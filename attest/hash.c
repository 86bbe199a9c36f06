// SPDX-License-Identifier: Apache-2.0
/*
 * SHA-256 of executables, with a cache so that a binary behind many
 * connections (a busy server, a thousand short-lived clients) is read once.
 * The cache key is a version of a file (struct hash_key): the same from
 * fstat() here and from the kernel's exec record, so a hit needs no file
 * at all. The fd hashed was already checked against the kernel's evidence
 * by proc.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attest/attest_int.h"

#define HASH_CHUNK	(64 * 1024)

void hash__key_of_stat(const struct stat *st, struct hash_key *k)
{
	memset(k, 0, sizeof(*k));
	k->ino = st->st_ino;
	k->dev = dev__to_kernel(st->st_dev);
	k->ctime_sec = st->st_ctim.tv_sec;
	k->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	k->size = st->st_size;
}

static bool key_equal(const struct hash_key *a, const struct hash_key *b)
{
	return a->ino == b->ino && a->dev == b->dev && a->size == b->size &&
	       a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

/* A linear scan: 1024 slots of a few words each cost far less than a
 * single read of the file they spare. */
static const struct hash_slot *cache_find(const struct attest_ctx *ctx,
					  const struct hash_key *k)
{
	size_t i;

	for (i = 0; i < ATTEST_HASH_CACHE; i++)
		if (ctx->hashes[i].used && key_equal(&ctx->hashes[i].key, k))
			return &ctx->hashes[i];
	return NULL;
}

/* Oldest out first: simple, and a binary still in use is re-hashed at
 * worst once per 1024 other binaries. */
static void cache_put(struct attest_ctx *ctx, const struct hash_key *k,
		      const char hex[65])
{
	struct hash_slot *s = &ctx->hashes[ctx->hash_next];

	s->used = true;
	s->key = *k;
	memcpy(s->hex, hex, sizeof(s->hex));
	ctx->hash_next = (ctx->hash_next + 1) % ATTEST_HASH_CACHE;
}

static void to_hex(const unsigned char *md, size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[2 * len] = '\0';
}

/* Feeds at most @max bytes of @fd (from offset 0) to @md. 0; 1 when the
 * file turned out larger than @max or could not be read (then @read_err
 * holds the errno); a negative errno when the digest itself failed. */
static int digest_fd(EVP_MD_CTX *md, int fd, uint64_t max, int *read_err)
{
	unsigned char *buf;
	uint64_t total = 0;
	ssize_t n;
	int ret = 0;

	buf = malloc(HASH_CHUNK);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		n = pread(fd, buf, HASH_CHUNK, (off_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*read_err = errno;
			ret = 1;
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > max) {
			ret = 1;
			break;
		}
		if (!EVP_DigestUpdate(md, buf, (size_t)n)) {
			ret = -EIO;
			break;
		}
	}
	free(buf);
	return ret;
}

/* 0 with @hex; 1 when skipped (@read_err: 0 for too big, else why the
 * read failed); a negative errno when OpenSSL failed. */
static int sha256_fd(int fd, uint64_t max, char hex[65], int *read_err,
		     struct nt_err *err)
{
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int out_len = 0;
	EVP_MD_CTX *md;
	int ret;

	md = EVP_MD_CTX_new();
	if (!md)
		return nt_err_ssl(err, -ENOMEM, "failed to allocate a digest");
	if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		ret = nt_err_ssl(err, -EIO, "failed to start sha256");
		goto out;
	}
	ret = digest_fd(md, fd, max, read_err);
	if (ret == -EIO)
		ret = nt_err_ssl(err, -EIO, "failed to hash");
	else if (ret == -ENOMEM)
		ret = nt_err_set(err, -ENOMEM, "out of memory");
	if (ret)
		goto out;
	if (!EVP_DigestFinal_ex(md, out, &out_len) || out_len != 32) {
		ret = nt_err_ssl(err, -EIO, "failed to finish sha256");
		goto out;
	}
	to_hex(out, out_len, hex);
out:
	EVP_MD_CTX_free(md);
	return ret;
}

static int stat_key(int fd, struct hash_key *k)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	hash__key_of_stat(&st, k);
	return 0;
}

bool hash__cached(struct attest_ctx *ctx, const struct hash_key *k,
		  char hex[65])
{
	const struct hash_slot *hit = cache_find(ctx, k);

	if (!hit)
		return false;
	ctx->hash_hits++;
	memcpy(hex, hit->hex, 65);
	return true;
}

int hash__exe(struct attest_ctx *ctx, int fd, const struct hash_key *also,
	      char hex[65], char *why, size_t why_size, struct nt_err *err)
{
	struct hash_key before = {}, after = {};
	int ret, read_err = 0;

	hex[0] = '\0';
	ret = stat_key(fd, &before);
	if (ret)
		goto unreadable;
	if (hash__cached(ctx, &before, hex))
		return 0;
	ctx->hash_misses++;
	if (before.size < 0 || (uint64_t)before.size > ctx->max_hash_bytes)
		goto too_big;
	ret = sha256_fd(fd, ctx->max_hash_bytes, hex, &read_err, err);
	if (ret < 0)
		return ret;
	if (ret && !read_err)
		goto too_big;
	if (ret) {
		ret = -read_err;
		goto unreadable;
	}
	/* Written to while read: the digest is of no single version. */
	ret = stat_key(fd, &after);
	if (ret)
		goto unreadable;
	if (!key_equal(&before, &after)) {
		hex[0] = '\0';
		snprintf(why, why_size, "exe modified while being hashed");
		return 1;
	}
	cache_put(ctx, &before, hex);
	if (also && !key_equal(also, &before) && !cache_find(ctx, also))
		cache_put(ctx, also, hex);
	return 0;
too_big:
	hex[0] = '\0';
	snprintf(why, why_size,
		 "exe is larger than max_hash_bytes (%llu bytes)",
		 (unsigned long long)ctx->max_hash_bytes);
	return 1;
unreadable:
	hex[0] = '\0';
	snprintf(why, why_size, "cannot read exe: %s", strerror(-ret));
	return 1;
}
