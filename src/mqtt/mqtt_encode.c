/* MQTT 3.1.1 packet encoders: each computes the packet's size first, returns 0 unless the
 * whole packet fits in cap, then writes it front to back. See mqtt.h for the contract. */
#include "mqtt/mqtt.h"

#include <string.h>

#define MAX_REMAINING 268435455u /* 4 length bytes */
#define MAX_STRING    65535u

/* Bytes of the fixed header for a remaining length (2 to 5), or 0 when it is too long. */
static size_t header_len(size_t rem)
{
    if (rem < 128)
        return 2;
    if (rem < 16384)
        return 3;
    if (rem < 2097152)
        return 4;
    return rem <= MAX_REMAINING ? 5 : 0;
}

static uint8_t *put_header(uint8_t *p, unsigned first, size_t rem)
{
    *p++ = (uint8_t)first;
    do {
        uint8_t d = rem & 127;
        rem >>= 7;
        *p++ = rem ? d | 128 : d;
    } while (rem);
    return p;
}

static uint8_t *put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put_bytes(uint8_t *p, const void *s, size_t n)
{
    if (n)
        memcpy(p, s, n);
    return p + n;
}

static uint8_t *put_str(uint8_t *p, const void *s, size_t n)
{
    return put_bytes(put16(p, (unsigned)n), s, n);
}

/* Total size of a packet with rem bytes after the fixed header, or 0 when it is too long
 * or does not fit in cap. */
static size_t fits(size_t rem, size_t cap)
{
    size_t h = header_len(rem);
    if (h == 0 || cap < h || cap - h < rem)
        return 0;
    return h + rem;
}

size_t mqtt_encode_connect(uint8_t *out, size_t cap, const struct mqtt_connect *c)
{
    size_t rem = 10 + 2 + c->client_id.len;
    if (c->client_id.len > MAX_STRING)
        return 0;
    if (c->has_will) {
        if (c->will_qos > 2 || c->will_topic.len == 0 || c->will_topic.len > MAX_STRING ||
            c->will_payload.len > MAX_STRING)
            return 0;
        rem += 4 + c->will_topic.len + c->will_payload.len;
    }
    if (c->has_username) {
        if (c->username.len > MAX_STRING)
            return 0;
        rem += 2 + c->username.len;
    }
    if (c->has_password) {
        if (c->password.len > MAX_STRING)
            return 0;
        rem += 2 + c->password.len;
    }
    size_t total = fits(rem, cap);
    if (total == 0)
        return 0;
    unsigned flags =
        (c->has_username ? 0x80 : 0) | (c->has_password ? 0x40 : 0) | (c->clean_session ? 0x02 : 0);
    if (c->has_will)
        flags |= 0x04 | (unsigned)c->will_qos << 3 | (c->will_retain ? 0x20 : 0);
    uint8_t *p = put_header(out, MQTT_CONNECT << 4, rem);
    p = put_str(p, "MQTT", 4);
    *p++ = 4;
    *p++ = (uint8_t)flags;
    p = put16(p, c->keepalive);
    p = put_str(p, c->client_id.ptr, c->client_id.len);
    if (c->has_will) {
        p = put_str(p, c->will_topic.ptr, c->will_topic.len);
        p = put_str(p, c->will_payload.ptr, c->will_payload.len);
    }
    if (c->has_username)
        p = put_str(p, c->username.ptr, c->username.len);
    if (c->has_password)
        put_str(p, c->password.ptr, c->password.len);
    return total;
}

size_t mqtt_encode_connack(uint8_t *out, size_t cap, bool session_present, uint8_t code)
{
    if (code > MQTT_CONNACK_NOT_AUTHORIZED || cap < 4)
        return 0;
    out[0] = MQTT_CONNACK << 4;
    out[1] = 2;
    out[2] = session_present && code == 0;
    out[3] = code;
    return 4;
}

/* Remaining length of a PUBLISH, or 0 when it cannot be sent. */
static size_t publish_rem(const struct mqtt_publish *p)
{
    if (p->qos > 2 || (p->qos && p->packet_id == 0) || (p->dup && !p->qos) || p->topic.len == 0 ||
        p->topic.len > MAX_STRING || p->payload_len > MAX_REMAINING)
        return 0;
    return 2 + p->topic.len + (p->qos ? 2 : 0) + p->payload_len;
}

static uint8_t *put_publish_header(uint8_t *out, const struct mqtt_publish *p, size_t rem)
{
    unsigned first =
        MQTT_PUBLISH << 4 | (p->dup ? 8 : 0) | (unsigned)p->qos << 1 | (p->retain ? 1 : 0);
    out = put_header(out, first, rem);
    out = put_str(out, p->topic.ptr, p->topic.len);
    if (p->qos)
        out = put16(out, p->packet_id);
    return out;
}

size_t mqtt_encode_publish(uint8_t *out, size_t cap, const struct mqtt_publish *p)
{
    size_t rem = publish_rem(p);
    size_t total = rem ? fits(rem, cap) : 0;
    if (total == 0)
        return 0;
    put_bytes(put_publish_header(out, p, rem), p->payload, p->payload_len);
    return total;
}

size_t mqtt_encode_publish_header(uint8_t *out, size_t cap, const struct mqtt_publish *p)
{
    size_t rem = publish_rem(p);
    size_t h = header_len(rem);
    if (rem == 0 || h == 0)
        return 0;
    size_t n = h + rem - p->payload_len;
    if (cap < n)
        return 0;
    put_publish_header(out, p, rem);
    return n;
}

size_t mqtt_encode_ack(uint8_t *out, size_t cap, enum mqtt_type type, uint16_t packet_id)
{
    unsigned flags = 0;
    switch (type) {
    case MQTT_PUBREL:
        flags = 2;
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        break;
    default:
        return 0;
    }
    if (packet_id == 0 || cap < 4)
        return 0;
    out[0] = (uint8_t)((unsigned)type << 4 | flags);
    out[1] = 2;
    put16(out + 2, packet_id);
    return 4;
}

/* Remaining length of a SUBSCRIBE (with_qos) or UNSUBSCRIBE, or 0 when it cannot be sent. */
static size_t filters_rem(uint16_t packet_id, const struct mqtt_str *filters, const uint8_t *qos,
                          size_t count)
{
    if (packet_id == 0 || count == 0)
        return 0;
    size_t rem = 2;
    for (size_t i = 0; i < count; i++) {
        if (filters[i].len == 0 || filters[i].len > MAX_STRING || (qos && qos[i] > 2))
            return 0;
        rem += 2 + filters[i].len + (qos ? 1 : 0);
        if (rem > MAX_REMAINING)
            return 0;
    }
    return rem;
}

static size_t encode_filters(uint8_t *out, size_t cap, unsigned first, uint16_t packet_id,
                             const struct mqtt_str *filters, const uint8_t *qos, size_t count)
{
    size_t rem = filters_rem(packet_id, filters, qos, count);
    size_t total = rem ? fits(rem, cap) : 0;
    if (total == 0)
        return 0;
    uint8_t *p = put16(put_header(out, first, rem), packet_id);
    for (size_t i = 0; i < count; i++) {
        p = put_str(p, filters[i].ptr, filters[i].len);
        if (qos)
            *p++ = qos[i];
    }
    return total;
}

size_t mqtt_encode_subscribe(uint8_t *out, size_t cap, uint16_t packet_id,
                             const struct mqtt_str *filters, const uint8_t *qos, size_t count)
{
    if (!qos)
        return 0;
    return encode_filters(out, cap, MQTT_SUBSCRIBE << 4 | 2, packet_id, filters, qos, count);
}

size_t mqtt_encode_unsubscribe(uint8_t *out, size_t cap, uint16_t packet_id,
                               const struct mqtt_str *filters, size_t count)
{
    return encode_filters(out, cap, MQTT_UNSUBSCRIBE << 4 | 2, packet_id, filters, NULL, count);
}

size_t mqtt_encode_suback(uint8_t *out, size_t cap, uint16_t packet_id, const uint8_t *codes,
                          size_t count)
{
    if (packet_id == 0 || count == 0 || count > MAX_REMAINING - 2)
        return 0;
    for (size_t i = 0; i < count; i++)
        if (codes[i] > 2 && codes[i] != 0x80)
            return 0;
    size_t rem = 2 + count;
    size_t total = fits(rem, cap);
    if (total == 0)
        return 0;
    put_bytes(put16(put_header(out, MQTT_SUBACK << 4, rem), packet_id), codes, count);
    return total;
}

size_t mqtt_encode_empty(uint8_t *out, size_t cap, enum mqtt_type type)
{
    if ((type != MQTT_PINGREQ && type != MQTT_PINGRESP && type != MQTT_DISCONNECT) || cap < 2)
        return 0;
    out[0] = (uint8_t)((unsigned)type << 4);
    out[1] = 0;
    return 2;
}
