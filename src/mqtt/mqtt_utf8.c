/* UTF-8 checks for MQTT strings (MQTT-1.5.3-1..3) and PUBLISH topic names (MQTT-3.3.2-2).
 *
 * Both scan 8 bytes at a time while the text is plain ASCII without the bytes they refuse,
 * and decode a byte at a time otherwise. A well-formed sequence follows Unicode's table 3-7:
 * no overlongs, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. */
#include "mqtt/mqtt.h"

#include <string.h>

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Non-zero when some byte of w is zero (exact as to whether one is). */
static inline uint64_t has_zero(uint64_t w)
{
    return (w - ONES) & ~w & HIGHS;
}

/* Length of the well-formed multi-byte sequence at p (p[0] >= 0x80), or 0. */
static inline size_t multibyte(const unsigned char *p, size_t left)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0, C1, F5..FF */
    }
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

int mqtt_check_utf8(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (!((w & HIGHS) | has_zero(w))) {
                p += 8;
                continue;
            }
        }
        if (*p < 0x80) {
            if (*p == 0)
                return MQTT_ERR_UTF8;
            p++;
            continue;
        }
        size_t n = multibyte(p, (size_t)(end - p));
        if (n == 0)
            return MQTT_ERR_UTF8;
        p += n;
    }
    return 0;
}

int mqtt_check_topic(const char *s, size_t len)
{
    if (len == 0)
        return MQTT_ERR_TOPIC;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (!((w & HIGHS) | has_zero(w) | has_zero(w ^ (ONES * '+')) |
                  has_zero(w ^ (ONES * '#')))) {
                p += 8;
                continue;
            }
        }
        unsigned c = *p;
        if (c < 0x80) {
            if (c == 0)
                return MQTT_ERR_UTF8;
            if (c == '+' || c == '#')
                return MQTT_ERR_TOPIC;
            p++;
            continue;
        }
        size_t n = multibyte(p, (size_t)(end - p));
        if (n == 0)
            return MQTT_ERR_UTF8;
        p += n;
    }
    return 0;
}
