#include "hub/amqp/address.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "common/device.h"
#include "common/strbuf.h"
#include "common/urlcode.h"

static const char *strip_scheme_and_host(const char *a)
{
    static const char *const schemes[] = {"amqps://", "amqp://", "sb://"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i]);
        if (strncasecmp(a, schemes[i], n) == 0) {
            const char *slash = strchr(a + n, '/');
            return slash ? slash : a + strlen(a);
        }
    }
    return a;
}

/* Copies segment number `index` of path into out. Returns its length or -1. */
static int segment(const char *path, int index, char *out, size_t cap)
{
    const char *s = path;
    for (int i = 0; i < index; i++) {
        s = strchr(s, '/');
        if (!s)
            return -1;
        s++;
    }
    size_t len = strcspn(s, "/");
    if (!str_copy_n(out, cap, s, len))
        return -1;
    return (int)len;
}

static size_t count_segments(const char *path)
{
    size_t n = 1;
    for (const char *p = path; *p; p++)
        n += *p == '/';
    return n;
}

int amqp_address_parse(const char *addr, struct amqp_address *out)
{
    memset(out, 0, sizeof(*out));
    if (!addr)
        return -1;
    const char *p = strip_scheme_and_host(addr);
    while (*p == '/')
        p++;
    if (!*p || !str_copy(out->path, sizeof(out->path), p))
        return -1;
    if (strcasecmp(out->path, "$cbs") == 0) {
        out->kind = AMQP_ADDR_CBS;
        return 0;
    }
    if (strcasecmp(out->path, "$management") == 0) {
        out->kind = AMQP_ADDR_MANAGEMENT;
        return 0;
    }
    if (strcasecmp(out->path, "messages/devicebound") == 0) {
        out->kind = AMQP_ADDR_C2D;
        return 0;
    }
    if (strcasecmp(out->path, "messages/servicebound/feedback") == 0) {
        out->kind = AMQP_ADDR_FEEDBACK;
        return 0;
    }
    char w1[AMQP_SEGMENT_MAX], w3[AMQP_SEGMENT_MAX];
    if (count_segments(out->path) == 5 &&
        segment(out->path, 0, out->entity, sizeof(out->entity)) > 0 &&
        segment(out->path, 1, w1, sizeof(w1)) > 0 && strcasecmp(w1, "ConsumerGroups") == 0 &&
        segment(out->path, 2, out->consumer_group, sizeof(out->consumer_group)) > 0 &&
        segment(out->path, 3, w3, sizeof(w3)) > 0 && strcasecmp(w3, "Partitions") == 0 &&
        segment(out->path, 4, out->partition, sizeof(out->partition)) > 0) {
        out->kind = AMQP_ADDR_PARTITION;
        return 0;
    }
    out->entity[0] = out->consumer_group[0] = out->partition[0] = '\0';
    out->kind = AMQP_ADDR_OTHER;
    return 0;
}

int amqp_partition_parse(const char *s, uint32_t count, uint32_t *out)
{
    if (!*s || strlen(s) > 5)
        return -1;
    uint32_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint32_t)(*p - '0');
    }
    if (s[0] == '0' && s[1])
        return -1; /* "00" is not partition 0 */
    if (v >= count)
        return -1;
    *out = v;
    return 0;
}

static bool word_is(const char *path, int index, const char *word)
{
    char w[AMQP_SEGMENT_MAX];
    return segment(path, index, w, sizeof(w)) > 0 && strcasecmp(w, word) == 0;
}

int amqp_c2d_target_parse(const char *to, char *device_id, size_t cap)
{
    if (!to)
        return -1;
    const char *p = strip_scheme_and_host(to);
    while (*p == '/')
        p++;
    char path[AMQP_ADDRESS_MAX];
    if (!str_copy(path, sizeof(path), p))
        return -1;
    size_t n = count_segments(path);
    if (n == 6 && word_is(path, 0, "devices") && word_is(path, 2, "modules") &&
        word_is(path, 4, "messages") && word_is(path, 5, "devicebound"))
        return -2;
    if (n != 4 || !word_is(path, 0, "devices") || !word_is(path, 2, "messages") ||
        !word_is(path, 3, "devicebound"))
        return -1;
    char raw[AMQP_SEGMENT_MAX * 3];
    int len = segment(path, 1, raw, sizeof(raw));
    if (len <= 0 || url_decode(raw, (size_t)len, device_id, cap) < 0 || !device_id_valid(device_id))
        return -1;
    return 0;
}
