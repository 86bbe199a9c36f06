/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nametag, the CLI: bpftool's grammar. `nametag [OPTIONS] OBJECT COMMAND`,
 * one file per object, each ending in a dispatch table whose first entry is
 * the default command.
 */
#ifndef NAMETAG_TOOLS_MAIN_H
#define NAMETAG_TOOLS_MAIN_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ca/ca.h"

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

extern const char *bin_name;
extern bool json_output;
extern bool pretty_output;
extern bool verbose;
extern const char *state_dir;

/* Runs the command of @cmds named (by unique prefix) in argv[0]; with no
 * argument, the first entry. Returns the handler's result. */
int cmd_select(const struct cmd *cmds, int argc, char **argv);
bool is_prefix(const char *pfx, const char *str);

/* Errors: "Error: ..." on stderr, or {"error": "..."} on stdout with -j.
 * Always returns -1 so handlers can `return p_err(...)`. */
int p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Notes for humans on stderr; silent in JSON mode. */
void p_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Help text: stderr, or {"help": "..."} on stdout with -j. Returns 0. */
int p_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints @obj as JSON (pretty with -p) and frees it. Returns 0, or
 * p_err() on allocation failure. */
int json_emit(cJSON *obj);

/* Argument walking, as bpftool does it. */
#define NEXT_ARG()	({ argc--; argv++; })
#define REQ_ARGS(n)							\
	({								\
		if (argc < (n)) {					\
			p_err("expected %d more argument%s",		\
			      (n), (n) == 1 ? "" : "s");		\
			return -1;					\
		}							\
	})
/* Fetches the value after a `--flag`, failing if it is missing. */
#define GET_VALUE(dst)							\
	({								\
		if (argc < 2) {						\
			p_err("option %s needs a value", *argv);	\
			return -1;					\
		}							\
		NEXT_ARG();						\
		(dst) = *argv;						\
		NEXT_ARG();						\
	})

/* "2026-11-23T15:00:00Z" */
void fmt_time(time_t t, char *buf, size_t size);

/* Objects. */
int do_id(int argc, char **argv);
int do_ca(int argc, char **argv);
int do_svid(int argc, char **argv);
int do_bundle(int argc, char **argv);

#endif
