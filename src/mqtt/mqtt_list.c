/* Iterators over the lists of a parsed SUBSCRIBE, UNSUBSCRIBE or SUBACK. The parser has
 * validated every entry; the bounds checks here only keep a bad *pos from reading past the
 * list. */
#include "mqtt/mqtt.h"

/* Takes one length-prefixed string at *pos, leaving `extra` more bytes required after it. */
static bool next_string(const struct mqtt_list *l, size_t pos, size_t extra, struct mqtt_str *s)
{
    if (pos > l->items_len || l->items_len - pos < 2 + extra)
        return false;
    size_t len = (size_t)(l->items[pos] << 8 | l->items[pos + 1]);
    if (l->items_len - pos - 2 - extra < len)
        return false;
    s->ptr = (const char *)l->items + pos + 2;
    s->len = len;
    return true;
}

bool mqtt_subscribe_next(const struct mqtt_list *l, size_t *pos, struct mqtt_str *filter,
                         uint8_t *qos)
{
    if (!next_string(l, *pos, 1, filter))
        return false;
    *pos += 2 + filter->len;
    *qos = l->items[(*pos)++];
    return true;
}

bool mqtt_unsubscribe_next(const struct mqtt_list *l, size_t *pos, struct mqtt_str *filter)
{
    if (!next_string(l, *pos, 0, filter))
        return false;
    *pos += 2 + filter->len;
    return true;
}

bool mqtt_suback_next(const struct mqtt_list *l, size_t *pos, uint8_t *code)
{
    if (*pos >= l->items_len)
        return false;
    *code = l->items[(*pos)++];
    return true;
}
