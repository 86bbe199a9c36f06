// SPDX-License-Identifier: Apache-2.0
/*
 * The proxy's parsers of a peer's words (userspace/proxy/wire.c): every
 * input is tried as the server_name extension of a ClientHello (the port
 * in SNI) and as a verdict ("ALLOW ..." / "DENY ..."). Invariants: a
 * port is only ever 1..65535 and came from digits in the input; a reason
 * points inside the input or at a reason of ours.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/proxy/proxy_int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *reason;
	uint16_t port = 0;
	char *line;
	bool allow;

	if (!proxy__sni_port(data, size, &port) && (port == 0 || size < 5))
		abort();
	line = malloc(size + 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	allow = proxy__verdict_parse(line, &reason);
	if (allow && strncmp(line, "ALLOW", 5))
		abort();
	if (!reason || (reason >= line + size + 1 && allow))
		abort();
	free(line);
	return 0;
}
