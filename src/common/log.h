/* Structured logging in logfmt: one line per event on stderr.
 *
 *   ts=2026-11-26T06:09:01.123Z level=info msg="https listener started" port=443
 *
 * The caller passes the human message and, optionally, extra key=value fields as a
 * printf format. Field values that may hold spaces must be quoted by the caller with
 * log_quote(). Keys and tokens must never be passed here. Thread-safe: each line is
 * written with a single write(2). */
#ifndef IOTHUB_COMMON_LOG_H
#define IOTHUB_COMMON_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *name);

/* fields may be NULL; otherwise a printf format producing ` key=value` pairs
 * (without a leading space). */
void log_emit(enum log_level level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes `s` as a logfmt value (quoted and escaped when needed) into buf. Returns buf. */
const char *log_quote(const char *s, char *buf, size_t cap);

#define log_debug(msg, ...) log_emit(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_emit(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_emit(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_emit(LOG_ERROR, msg, __VA_ARGS__)

#endif
