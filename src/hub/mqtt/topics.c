#include "hub/mqtt/topics.h"

#include <stdbool.h>
#include <string.h>

/* True when s[0..len) is prefix + device_id + suffix. */
static bool is_device_topic(const char *s, size_t len, const char *prefix, const char *device_id,
                            const char *suffix)
{
    size_t p = strlen(prefix), d = strlen(device_id), x = strlen(suffix);
    return len == p + d + x && memcmp(s, prefix, p) == 0 && memcmp(s + p, device_id, d) == 0 &&
           memcmp(s + p + d, suffix, x) == 0;
}

static bool equals(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

uint32_t topic_subscription_of(const char *filter, size_t len, const char *device_id)
{
    if (is_device_topic(filter, len, "devices/", device_id, "/messages/devicebound/#"))
        return SUB_C2D;
    if (equals(filter, len, "$iothub/methods/POST/#"))
        return SUB_METHODS;
    if (equals(filter, len, "$iothub/twin/res/#"))
        return SUB_TWIN_RESPONSES;
    if (equals(filter, len, "$iothub/twin/PATCH/properties/desired/#"))
        return SUB_TWIN_DESIRED;
    return 0;
}

uint8_t topic_subscription_max_qos(uint32_t sub)
{
    (void)sub;
    return 1; /* min(requested, 1) for every hub subscription (spec 2.6) */
}

static bool starts_with(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len >= n && memcmp(s, lit, n) == 0;
}

enum publish_kind topic_classify_publish(const char *topic, size_t len, const char *device_id,
                                         const char **bag, size_t *bag_len)
{
    static const char events[] = "/messages/events";
    size_t d = strlen(device_id);
    if (starts_with(topic, len, "devices/") && len >= 8 + d + sizeof(events) - 1 &&
        memcmp(topic + 8, device_id, d) == 0 &&
        memcmp(topic + 8 + d, events, sizeof(events) - 1) == 0) {
        size_t rest = 8 + d + sizeof(events) - 1;
        if (rest == len) {
            *bag = topic + len;
            *bag_len = 0;
            return PUBLISH_TELEMETRY;
        }
        if (topic[rest] != '/')
            return PUBLISH_FORBIDDEN;
        *bag = topic + rest + 1;
        *bag_len = len - rest - 1;
        if (*bag_len && (*bag)[*bag_len - 1] == '/')
            (*bag_len)--; /* Node appends one for module output events */
        return PUBLISH_TELEMETRY;
    }
    if (starts_with(topic, len, "$iothub/twin/"))
        return PUBLISH_TWIN;
    if (starts_with(topic, len, "$iothub/methods/res/"))
        return PUBLISH_METHOD_RESPONSE;
    return PUBLISH_FORBIDDEN;
}
