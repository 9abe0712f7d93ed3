#include "hub/amqp/address.h"

#include <string.h>
#include <strings.h>

#include "common/strbuf.h"

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
