/* MQTT 3.1.1 packet parser (OASIS standard, sections 2 and 3): one packet per call, from
 * the fixed header on, with every normative check on the way. See mqtt.h for the contract. */
#include "mqtt/mqtt.h"

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Takes a two-byte length and that many bytes at *pos; false when they overrun n. */
static inline bool take(const uint8_t *b, size_t n, size_t *pos, struct mqtt_str *s)
{
    if (n - *pos < 2)
        return false;
    size_t len = rd16(b + *pos);
    if (n - *pos - 2 < len)
        return false;
    s->ptr = (const char *)b + *pos + 2;
    s->len = len;
    *pos += 2 + len;
    return true;
}

/* Fixed-header flags (2.2.2, MQTT-2.2.2-1/2, MQTT-3.3.1-2/4). */
static inline int check_flags(unsigned type, unsigned flags)
{
    switch (type) {
    case MQTT_PUBLISH:
        if ((flags & 6) == 6)
            return MQTT_ERR_QOS;
        if ((flags & 8) && !(flags & 6))
            return MQTT_ERR_MALFORMED; /* DUP on QoS 0 */
        return 0;
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return flags == 2 ? 0 : MQTT_ERR_RESERVED_FLAGS;
    case 0:
    case 15:
        return MQTT_ERR_TYPE;
    default:
        return flags == 0 ? 0 : MQTT_ERR_RESERVED_FLAGS;
    }
}

/* Packets whose size the standard fixes are refused from the header. */
static inline int check_size(unsigned type, size_t rem)
{
    switch (type) {
    case MQTT_CONNACK:
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return rem == 2 ? 0 : MQTT_ERR_MALFORMED;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return rem == 0 ? 0 : MQTT_ERR_MALFORMED;
    default:
        return 0;
    }
}

static int parse_connect(const uint8_t *b, size_t n, struct mqtt_connect *c)
{
    size_t pos = 0;
    struct mqtt_str name;
    *c = (struct mqtt_connect){0};
    if (!take(b, n, &pos, &name))
        return MQTT_ERR_MALFORMED;
    if (name.len != 4 || name.ptr[0] != 'M' || name.ptr[1] != 'Q' || name.ptr[2] != 'T' ||
        name.ptr[3] != 'T')
        return MQTT_ERR_PROTOCOL_NAME; /* MQTT-3.1.2-1 */
    if (pos == n)
        return MQTT_ERR_MALFORMED;
    c->level = b[pos++];
    if (c->level != 4)
        return MQTT_ERR_PROTOCOL_LEVEL; /* MQTT-3.1.2-2: the rest may be another format */
    if (n - pos < 3)
        return MQTT_ERR_MALFORMED;
    unsigned flags = b[pos];
    c->keepalive = rd16(b + pos + 1);
    pos += 3;
    if (flags & 0x01)
        return MQTT_ERR_MALFORMED; /* MQTT-3.1.2-3 */
    c->clean_session = flags & 0x02;
    c->has_will = flags & 0x04;
    c->will_qos = (uint8_t)((flags >> 3) & 3);
    c->will_retain = flags & 0x20;
    c->has_password = flags & 0x40;
    c->has_username = flags & 0x80;
    if (!c->has_will && (c->will_qos || c->will_retain))
        return MQTT_ERR_MALFORMED; /* MQTT-3.1.2-11, -13, -15 */
    if (c->will_qos == 3)
        return MQTT_ERR_QOS; /* MQTT-3.1.2-14 */
    if (c->has_password && !c->has_username)
        return MQTT_ERR_MALFORMED; /* MQTT-3.1.2-22 */
    int err;
    if (!take(b, n, &pos, &c->client_id))
        return MQTT_ERR_MALFORMED;
    if ((err = mqtt_check_utf8(c->client_id.ptr, c->client_id.len)) != 0)
        return err;
    if (c->has_will) {
        struct mqtt_str payload;
        if (!take(b, n, &pos, &c->will_topic) || !take(b, n, &pos, &payload))
            return MQTT_ERR_MALFORMED;
        /* The will is published as is: it must be a valid topic name. */
        if ((err = mqtt_check_topic(c->will_topic.ptr, c->will_topic.len)) != 0)
            return err;
        c->will_payload = payload;
    }
    if (c->has_username) {
        if (!take(b, n, &pos, &c->username))
            return MQTT_ERR_MALFORMED;
        if ((err = mqtt_check_utf8(c->username.ptr, c->username.len)) != 0)
            return err;
    }
    if (c->has_password && !take(b, n, &pos, &c->password))
        return MQTT_ERR_MALFORMED;
    return pos == n ? 0 : MQTT_ERR_MALFORMED;
}

static int parse_connack(const uint8_t *b, struct mqtt_connack *a)
{
    if (b[0] & 0xFE)
        return MQTT_ERR_MALFORMED; /* MQTT-3.2.2: reserved bits */
    if (b[1] > MQTT_CONNACK_NOT_AUTHORIZED)
        return MQTT_ERR_MALFORMED;
    if (b[1] != 0 && b[0])
        return MQTT_ERR_MALFORMED; /* MQTT-3.2.2-4 */
    a->session_present = b[0];
    a->return_code = b[1];
    return 0;
}

static int parse_publish(const uint8_t *b, size_t n, unsigned flags, struct mqtt_publish *p)
{
    unsigned qos = (flags >> 1) & 3;
    if (n < 2)
        return MQTT_ERR_MALFORMED;
    size_t topic_len = rd16(b);
    size_t pos = 2 + topic_len + (qos ? 2 : 0);
    if (pos > n)
        return MQTT_ERR_MALFORMED;
    int err = mqtt_check_topic((const char *)b + 2, topic_len);
    if (err)
        return err;
    p->dup = flags & 8;
    p->qos = (uint8_t)qos;
    p->retain = flags & 1;
    p->topic.ptr = (const char *)b + 2;
    p->topic.len = topic_len;
    p->packet_id = qos ? rd16(b + 2 + topic_len) : 0;
    if (qos && p->packet_id == 0)
        return MQTT_ERR_PACKET_ID; /* MQTT-2.3.1-1 */
    p->payload = b + pos;
    p->payload_len = n - pos;
    return 0;
}

/* SUBSCRIBE, UNSUBSCRIBE, SUBACK: packet id, then a non-empty list (MQTT-3.8.3-3,
 * MQTT-3.10.3-2). */
static int parse_list(const uint8_t *b, size_t n, unsigned type, struct mqtt_list *l)
{
    if (n < 2)
        return MQTT_ERR_MALFORMED;
    l->packet_id = rd16(b);
    if (l->packet_id == 0)
        return MQTT_ERR_PACKET_ID;
    l->items = b + 2;
    l->items_len = n - 2;
    l->count = 0;
    if (type == MQTT_SUBACK) {
        for (size_t i = 2; i < n; i++)
            if (b[i] > 2 && b[i] != 0x80)
                return MQTT_ERR_MALFORMED; /* MQTT-3.9.3-2 */
        l->count = n - 2;
    } else {
        size_t pos = 2;
        while (pos < n) {
            struct mqtt_str filter;
            if (!take(b, n, &pos, &filter))
                return MQTT_ERR_MALFORMED;
            int err = mqtt_check_filter(filter.ptr, filter.len);
            if (err)
                return err;
            if (type == MQTT_SUBSCRIBE) {
                if (pos == n)
                    return MQTT_ERR_MALFORMED;
                if (b[pos++] > 2)
                    return MQTT_ERR_QOS; /* MQTT-3.8.3-4: reserved bits, QoS 3 */
            }
            l->count++;
        }
    }
    return l->count ? 0 : MQTT_ERR_MALFORMED;
}

int mqtt_parse(const uint8_t *buf, size_t len, size_t max_packet, struct mqtt_packet *out)
{
    if (len == 0)
        return MQTT_INCOMPLETE;
    unsigned type = buf[0] >> 4, flags = buf[0] & 15;
    int err = check_flags(type, flags);
    if (err)
        return err;

    /* Remaining length: 1 to 4 bytes, 7 bits each, least significant first. */
    size_t rem = 0, i = 1;
    for (unsigned shift = 0;; shift += 7) {
        if (i == len) {
            /* At least one more length byte follows what we have. */
            return i + 1 + rem > max_packet ? MQTT_ERR_TOO_LARGE : MQTT_INCOMPLETE;
        }
        uint8_t d = buf[i++];
        rem |= (size_t)(d & 127) << shift;
        if (!(d & 128))
            break;
        if (i == 5)
            return MQTT_ERR_REMAINING_LENGTH;
    }
    size_t total = i + rem;
    if (total > max_packet)
        return MQTT_ERR_TOO_LARGE;
    if ((err = check_size(type, rem)) != 0)
        return err;
    if (len < total)
        return MQTT_INCOMPLETE;

    const uint8_t *body = buf + i;
    out->type = (enum mqtt_type)type;
    out->flags = (uint8_t)flags;
    switch (type) {
    case MQTT_PUBLISH:
        err = parse_publish(body, rem, flags, &out->u.publish);
        break;
    case MQTT_CONNECT:
        err = parse_connect(body, rem, &out->u.connect);
        break;
    case MQTT_CONNACK:
        err = parse_connack(body, &out->u.connack);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        out->u.packet_id = rd16(body);
        err = out->u.packet_id ? 0 : MQTT_ERR_PACKET_ID;
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
    case MQTT_SUBACK:
        err = parse_list(body, rem, type, &out->u.list);
        break;
    default: /* PINGREQ, PINGRESP, DISCONNECT: nothing after the header */
        break;
    }
    return err ? err : (int)total;
}
