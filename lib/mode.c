// SPDX-License-Identifier: Apache-2.0
/* The names of the rollout modes (enum nt_mode, bpf/nametag.h), as the
 * CLI, the state files and the control socket spell them. */
#include <errno.h>
#include <string.h>

#include "lib/ntcore.h"

static const char *const mode_names[] = {
	[NT_MODE_OFF] = "off",
	[NT_MODE_OBSERVE] = "observe",
	[NT_MODE_PERMISSIVE] = "permissive",
	[NT_MODE_STRICT] = "strict",
};

const char *mode__name(enum nt_mode m)
{
	return m <= NT_MODE_STRICT ? mode_names[m] : "unknown";
}

int mode__parse(const char *s, enum nt_mode *m)
{
	int i;

	for (i = NT_MODE_OFF; i <= NT_MODE_STRICT; i++) {
		if (!strcmp(s, mode_names[i])) {
			*m = i;
			return 0;
		}
	}
	return -EINVAL;
}
