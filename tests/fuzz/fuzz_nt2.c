// SPDX-License-Identifier: Apache-2.0
/*
 * NT2's frame reader (userspace/proxy/frame.c) on bytes from a peer: the
 * input arrives on a socketpair, cut into reads of the sizes its first
 * byte picks, and is read as control frames (a verdict, an OPEN) and as a
 * stream's DATA frames, as the proxy reads them. Invariants: a control
 * frame never exceeds the reader's room, a read never returns more than
 * asked, and the reader always ends (EOF or an error), never spins.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "userspace/proxy/proxy_int.h"
#include "tests/fuzz/fuzz.h"

#define ROUNDS_MAX	100000

static void read_all(struct side *s, unsigned int mode)
{
	char buf[PROXY_STATUS_MAX];
	size_t cap, len = 0, n;
	uint8_t type;
	int r, i;

	for (i = 0; i < ROUNDS_MAX; i++) {
		cap = 1 + (mode + i) % sizeof(buf);
		if ((mode >> (i % 8)) & 1) {
			r = side__read_frame(s, &type, buf, sizeof(buf), &len);
			if (r == 1 && len > sizeof(buf))
				abort();
			if (r == 1)
				len = 0;
			if (r < 0 || r == 0)
				return;
		} else {
			switch (side__io_read(s, buf, cap, &n)) {
			case IO_OK:
				if (n > cap)
					abort();
				break;
			default:
				return;
			}
		}
	}
	abort();	/* a reader that never ends */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct side s = { .framed = true };
	unsigned int mode;
	int fds[2];

	if (size < 1 || size > 65536)
		return 0;
	mode = data[0];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds))
		return 0;
	if (write(fds[1], data + 1, size - 1) < 0) {
		close(fds[0]);
		close(fds[1]);
		return 0;
	}
	shutdown(fds[1], SHUT_WR);
	s.h.fd = fds[0];
	read_all(&s, mode);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
