/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled logging for nametagd; libbpf's output will be routed here too. */
#ifndef NAMETAG_LOG_H
#define NAMETAG_LOG_H

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_level;

void nt_log(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_err(...)	nt_log(LOG_ERR, __VA_ARGS__)
#define pr_warn(...)	nt_log(LOG_WARN, __VA_ARGS__)
#define pr_info(...)	nt_log(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	nt_log(LOG_DEBUG, __VA_ARGS__)

#endif
