/* Percent-encoding (RFC 3986). Decoding is plain percent-decoding: '+' stays '+'. */
#ifndef IOTHUB_COMMON_URLCODE_H
#define IOTHUB_COMMON_URLCODE_H

#include <stddef.h>

/* Decodes len bytes of in into out (NUL-terminated). Rejects a '%' not followed by two
 * hex digits and decoded NUL bytes. Returns the decoded length, or -1 on bad input or when
 * cap is too small. out may equal in (in-place decode). */
int url_decode(const char *in, size_t len, char *out, size_t cap);

/* Encodes like JavaScript's encodeURIComponent (unreserved: A-Z a-z 0-9 - _ . ! ~ * ' ( ))
 * with upper-case hex. Returns the encoded length, or -1 when cap is too small. */
int url_encode_component(const char *in, size_t len, char *out, size_t cap);

#endif
