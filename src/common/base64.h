/* Standard base64 (RFC 4648 section 4, with '=' padding). */
#ifndef IOTHUB_COMMON_BASE64_H
#define IOTHUB_COMMON_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode n bytes, including the terminating NUL. */
#define BASE64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* Encodes len bytes into out (NUL-terminated). Returns the string length, or -1 when
 * cap is too small. */
int base64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Decodes a strict, padded base64 string of length len. Rejects characters outside the
 * alphabet, wrong padding and lengths that are not a multiple of 4. Returns the number
 * of bytes written, or -1 on bad input or when cap is too small. */
int base64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
