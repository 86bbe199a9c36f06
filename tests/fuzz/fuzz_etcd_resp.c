// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the etcd client's readers (userspace/etcd/json.c):
 * what etcd's JSON gateway answers is outside input to every node. The
 * first byte picks a range answer or one watch line; the rest is the
 * body. Every reader must refuse or accept without crashing or leaking.
 */
#include <stdint.h>
#include <stdlib.h>

#include "userspace/etcd/etcd.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nt_err err = { "" };

	if (size < 1)
		return 0;
	etcd__parse_check((const char *)data + 1, size - 1, data[0] & 1, &err);
	return 0;
}
