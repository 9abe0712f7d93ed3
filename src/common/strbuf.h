/* Small helpers for bounded strings. */
#ifndef IOTHUB_COMMON_STRBUF_H
#define IOTHUB_COMMON_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src into dst (cap bytes); returns false (and leaves dst truncated but terminated)
 * when it does not fit. */
bool str_copy(char *dst, size_t cap, const char *src);

/* Copies len bytes of src and terminates; false when len >= cap. */
bool str_copy_n(char *dst, size_t cap, const char *src, size_t len);

#endif
