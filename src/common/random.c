#include "random.h"

#include <openssl/rand.h>

#include "base64.h"

int random_bytes(uint8_t *buf, size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

int random_key_b64(char out[45])
{
    uint8_t key[32];
    if (random_bytes(key, sizeof(key)) != 0)
        return -1;
    return base64_encode(key, sizeof(key), out, 45) == 44 ? 0 : -1;
}

int random_hex32(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[16];
    if (random_bytes(raw, sizeof(raw)) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return 0;
}
