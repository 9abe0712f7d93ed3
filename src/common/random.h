/* Cryptographically secure randomness (OpenSSL RAND_bytes). */
#ifndef IOTHUB_COMMON_RANDOM_H
#define IOTHUB_COMMON_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf; returns 0, or -1 when the generator failed. */
int random_bytes(uint8_t *buf, size_t len);

/* A new symmetric key: 32 random bytes as base64 (44 characters + NUL). Returns 0 or -1. */
int random_key_b64(char out[45]);

/* 32 lower-case hex characters + NUL (tracking ids, request ids). Returns 0 or -1. */
int random_hex32(char out[33]);

#endif
