/* The IoT Hub property bag in MQTT topics (spec 2.7, 2.8):
 *   devices/{id}/messages/events/{bag}    with bag = k1=v1&k2=v2...
 * Keys and values are percent-encoded; system properties arrive as %24.mid, %24.cid, %24.ct,
 * %24.ce, %24.uid, %24.ctime ("$." once decoded). The C SDK sends values unencoded, so a
 * value that is not valid percent-encoding is taken literally. */
#ifndef IOTHUB_MQTT_PROPBAG_H
#define IOTHUB_MQTT_PROPBAG_H

#include <stddef.h>

struct propbag_entry {
    char *key;   /* decoded, NUL-terminated, pointing into the caller's scratch buffer */
    char *value; /* decoded; "" when the pair had no '=' */
};

/* Decodes bag (len bytes, without a leading '/') into at most max entries, using scratch
 * (cap bytes; bag needs at most len + 2 * entries bytes). Returns the entry count, or -1
 * (more than max entries, an empty key, scratch too small). */
int propbag_parse(const char *bag, size_t len, struct propbag_entry *entries, size_t max,
                  char *scratch, size_t cap);

/* Encodes entries as a bag (keys and values with encodeURIComponent, '$' as %24). Returns
 * the length written (NUL-terminated), or -1 when cap is too small. */
int propbag_encode(const struct propbag_entry *entries, size_t count, char *out, size_t cap);

#endif
