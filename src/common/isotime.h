/* Time helpers: wall clock in milliseconds, the monotonic clock in nanoseconds, and ISO
 * 8601 UTC formatting. */
#ifndef IOTHUB_COMMON_ISOTIME_H
#define IOTHUB_COMMON_ISOTIME_H

#include <stddef.h>
#include <stdint.h>

#define ISOTIME_SIZE 32

int64_t time_now_ms(void);
/* CLOCK_MONOTONIC in nanoseconds. */
int64_t time_mono_ns(void);

/* Formats ms since the epoch as "2026-11-26T06:09:01.123Z". ms <= 0 (never) formats as
 * "0001-01-01T00:00:00Z", as the hosted service does. Returns buf. */
const char *isotime_format(int64_t ms, char *buf, size_t cap);

/* Parses "YYYY-MM-DDTHH:MM:SS[.fff...][Z|+hh:mm|-hh:mm]" into ms since the epoch.
 * "0001-01-01T00:00:00[Z]" parses as 0. Returns 0 on success, -1 on bad input. */
int isotime_parse(const char *s, int64_t *ms_out);

#endif
