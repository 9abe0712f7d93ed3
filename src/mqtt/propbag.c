#include "mqtt/propbag.h"

#include <string.h>

#include "common/urlcode.h"

/* Decodes one key or value into scratch; falls back to the literal bytes when they are not
 * valid percent-encoding (the C SDK sends values unencoded). Returns the start, or NULL. */
static char *decode_part(const char *in, size_t len, char *scratch, size_t cap, size_t *used)
{
    char *dst = scratch + *used;
    size_t room = cap - *used;
    int n = url_decode(in, len, dst, room);
    if (n < 0) {
        if (len >= room || memchr(in, '\0', len))
            return NULL;
        memcpy(dst, in, len);
        dst[len] = '\0';
        n = (int)len;
    }
    *used += (size_t)n + 1;
    return dst;
}

int propbag_parse(const char *bag, size_t len, struct propbag_entry *entries, size_t max,
                  char *scratch, size_t cap)
{
    size_t count = 0, used = 0, pos = 0;
    while (pos < len) {
        const char *amp = memchr(bag + pos, '&', len - pos);
        size_t pair_len = amp ? (size_t)(amp - (bag + pos)) : len - pos;
        const char *pair = bag + pos;
        pos += pair_len + 1;
        if (pair_len == 0)
            continue; /* "a=1&&b=2" or a trailing '&' */
        if (count == max)
            return -1;
        const char *eq = memchr(pair, '=', pair_len);
        size_t key_len = eq ? (size_t)(eq - pair) : pair_len;
        if (key_len == 0)
            return -1;
        char *key = decode_part(pair, key_len, scratch, cap, &used);
        if (!key || key[0] == '\0')
            return -1;
        char *value = eq ? decode_part(eq + 1, pair_len - key_len - 1, scratch, cap, &used)
                         : decode_part("", 0, scratch, cap, &used);
        if (!value)
            return -1;
        entries[count].key = key;
        entries[count].value = value;
        count++;
    }
    return (int)count;
}

int propbag_encode(const struct propbag_entry *entries, size_t count, char *out, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (i > 0) {
            if (used + 1 >= cap)
                return -1;
            out[used++] = '&';
        }
        int n =
            url_encode_component(entries[i].key, strlen(entries[i].key), out + used, cap - used);
        if (n < 0)
            return -1;
        used += (size_t)n;
        if (used + 1 >= cap)
            return -1;
        out[used++] = '=';
        n = url_encode_component(entries[i].value, strlen(entries[i].value), out + used,
                                 cap - used);
        if (n < 0)
            return -1;
        used += (size_t)n;
    }
    out[used] = '\0';
    return (int)used;
}
