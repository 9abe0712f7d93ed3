/* Topic filters: validity (MQTT-4.7.1-1..3) and matching with '+' and '#' (section 4.7). */
#include "mqtt/mqtt.h"

int mqtt_check_filter(const char *s, size_t len)
{
    if (len == 0)
        return MQTT_ERR_TOPIC;
    int err = mqtt_check_utf8(s, len);
    if (err)
        return err;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '+' && s[i] != '#')
            continue;
        bool starts_level = i == 0 || s[i - 1] == '/';
        bool ends_level = i + 1 == len || s[i + 1] == '/';
        if (!starts_level || !ends_level)
            return MQTT_ERR_TOPIC;
        if (s[i] == '#' && i + 1 != len)
            return MQTT_ERR_TOPIC;
    }
    return 0;
}

bool mqtt_topic_matches(const char *filter, size_t filter_len, const char *topic, size_t topic_len)
{
    size_t f = 0, t = 0;
    /* MQTT-4.7.2-1: "#" and "+/..." do not see "$SYS/..." (nor "$iothub/..."). */
    if (filter_len > 0 && (filter[0] == '+' || filter[0] == '#') && topic_len > 0 &&
        topic[0] == '$')
        return false;
    for (;;) {
        /* Here f and t are at the start of a level. */
        if (f + 1 == filter_len && filter[f] == '#')
            return true; /* the rest, including no level at all */
        if (f < filter_len && filter[f] == '+' && (f + 1 == filter_len || filter[f + 1] == '/')) {
            f++;
            while (t < topic_len && topic[t] != '/')
                t++;
        } else {
            while (f < filter_len && filter[f] != '/') {
                if (t == topic_len || topic[t] != filter[f])
                    return false;
                f++;
                t++;
            }
            if (t < topic_len && topic[t] != '/')
                return false;
        }
        /* Both are at the end of a level: at the end of the string or at a '/'. */
        if (f == filter_len)
            return t == topic_len;
        if (t == topic_len) /* "a/#" matches "a" (the parent level) */
            return filter_len - f == 2 && filter[f + 1] == '#';
        f++;
        t++;
    }
}
