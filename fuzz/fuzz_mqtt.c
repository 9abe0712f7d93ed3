/* libFuzzer target: the MQTT 3.1.1 codec (mqtt_parse, the list iterators, the encoders,
 * the string checks and topic matching).
 *
 * The input is a byte stream as a connection would deliver it: packets are parsed one after
 * the other until the parser asks for more or refuses. For every packet it checks that
 *  - strict prefixes are MQTT_INCOMPLETE and a limit one byte short is MQTT_ERR_TOO_LARGE;
 *  - list iterators agree with the parser's count and see only valid entries;
 *  - re-encoding gives a packet that parses to the same fields, byte for byte the same as
 *    the input when its remaining length used the shortest form; smaller caps give 0;
 *  - topic matching agrees with a level-by-level reference on every (filter, topic) pair
 *    seen, and the UTF-8 check agrees with a reference decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PACKET (1u << 16)
#define KEEP       8   /* filters and topics kept for matching */
#define KEEP_LEN   128 /* longest one kept */

static void check(int ok)
{
    if (!ok)
        abort();
}

static uint8_t enc[MAX_PACKET + 16];

static bool same_str(struct mqtt_str a, struct mqtt_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ---- references ---- */

/* Decodes code points one at a time, the textbook way. */
static bool ref_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t c = s[i], cp, min;
        size_t n;
        if (c < 0x80) {
            n = 1, cp = c, min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* Length of the level starting at s[0]. */
static size_t level_len(const char *s, size_t len)
{
    const char *slash = memchr(s, '/', len);
    return slash ? (size_t)(slash - s) : len;
}

/* Section 4.7 level by level, recursively; filter and topic are valid. */
static bool ref_match_levels(const char *f, size_t fl, const char *t, size_t tl)
{
    size_t a = level_len(f, fl), b = level_len(t, tl);
    bool f_last = a == fl, t_last = b == tl;
    if (a == 1 && f[0] == '#')
        return true;
    if (!(a == 1 && f[0] == '+') && (a != b || memcmp(f, t, a) != 0))
        return false;
    if (f_last && t_last)
        return true;
    if (f_last)
        return false;
    if (t_last) /* "x/#" also matches "x" */
        return fl - a == 2 && f[a + 1] == '#';
    return ref_match_levels(f + a + 1, fl - a - 1, t + b + 1, tl - b - 1);
}

static bool ref_match(const char *f, size_t fl, const char *t, size_t tl)
{
    if (tl > 0 && t[0] == '$' && fl > 0 && (f[0] == '+' || f[0] == '#'))
        return false;
    return ref_match_levels(f, fl, t, tl);
}

/* ---- filters and topics seen, matched against each other ---- */

static char filters[KEEP][KEEP_LEN], topics[KEEP][KEEP_LEN];
static size_t filter_len[KEEP], topic_len[KEEP], nfilters, ntopics;

static void match_all(void)
{
    for (size_t i = 0; i < nfilters; i++)
        for (size_t j = 0; j < ntopics; j++)
            check(mqtt_topic_matches(filters[i], filter_len[i], topics[j], topic_len[j]) ==
                  ref_match(filters[i], filter_len[i], topics[j], topic_len[j]));
}

static void keep_filter(struct mqtt_str f)
{
    check(mqtt_check_filter(f.ptr, f.len) == 0);
    if (f.len > KEEP_LEN || nfilters == KEEP)
        return;
    memcpy(filters[nfilters], f.ptr, f.len);
    filter_len[nfilters++] = f.len;
}

static void keep_topic(struct mqtt_str t)
{
    check(mqtt_check_topic(t.ptr, t.len) == 0);
    check(mqtt_topic_matches(t.ptr, t.len, t.ptr, t.len)); /* a topic matches itself */
    check(mqtt_topic_matches("#", 1, t.ptr, t.len) == (t.ptr[0] != '$'));
    if (t.len > KEEP_LEN || ntopics == KEEP)
        return;
    memcpy(topics[ntopics], t.ptr, t.len);
    topic_len[ntopics++] = t.len;
}

/* ---- re-encoding ---- */

static size_t reencode(const struct mqtt_packet *p, uint8_t *out, size_t cap)
{
    switch (p->type) {
    case MQTT_CONNECT:
        return mqtt_encode_connect(out, cap, &p->u.connect);
    case MQTT_CONNACK:
        return mqtt_encode_connack(out, cap, p->u.connack.session_present,
                                   p->u.connack.return_code);
    case MQTT_PUBLISH:
        return mqtt_encode_publish(out, cap, &p->u.publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return mqtt_encode_ack(out, cap, p->type, p->u.packet_id);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: {
        static struct mqtt_str f[MAX_PACKET / 3];
        static uint8_t q[MAX_PACKET / 3];
        size_t n = 0, pos = 0;
        if (p->type == MQTT_SUBSCRIBE) {
            while (mqtt_subscribe_next(&p->u.list, &pos, &f[n], &q[n]))
                n++;
            return mqtt_encode_subscribe(out, cap, p->u.list.packet_id, f, q, n);
        }
        while (mqtt_unsubscribe_next(&p->u.list, &pos, &f[n]))
            n++;
        return mqtt_encode_unsubscribe(out, cap, p->u.list.packet_id, f, n);
    }
    case MQTT_SUBACK:
        return mqtt_encode_suback(out, cap, p->u.list.packet_id, p->u.list.items,
                                  p->u.list.items_len);
    default:
        return mqtt_encode_empty(out, cap, p->type);
    }
}

static bool same_list(const struct mqtt_list *a, const struct mqtt_list *b)
{
    return a->packet_id == b->packet_id && a->count == b->count && a->items_len == b->items_len &&
           memcmp(a->items, b->items, a->items_len) == 0;
}

static bool same_packet(const struct mqtt_packet *a, const struct mqtt_packet *b)
{
    if (a->type != b->type || a->flags != b->flags)
        return false;
    switch (a->type) {
    case MQTT_CONNECT: {
        const struct mqtt_connect *x = &a->u.connect, *y = &b->u.connect;
        return x->level == y->level && x->clean_session == y->clean_session &&
               x->keepalive == y->keepalive && same_str(x->client_id, y->client_id) &&
               x->has_will == y->has_will && x->will_qos == y->will_qos &&
               x->will_retain == y->will_retain && same_str(x->will_topic, y->will_topic) &&
               same_str(x->will_payload, y->will_payload) && x->has_username == y->has_username &&
               same_str(x->username, y->username) && x->has_password == y->has_password &&
               same_str(x->password, y->password);
    }
    case MQTT_CONNACK:
        return a->u.connack.session_present == b->u.connack.session_present &&
               a->u.connack.return_code == b->u.connack.return_code;
    case MQTT_PUBLISH: {
        const struct mqtt_publish *x = &a->u.publish, *y = &b->u.publish;
        return x->dup == y->dup && x->qos == y->qos && x->retain == y->retain &&
               same_str(x->topic, y->topic) && x->packet_id == y->packet_id &&
               x->payload_len == y->payload_len &&
               (x->payload_len == 0 || memcmp(x->payload, y->payload, x->payload_len) == 0);
    }
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return a->u.packet_id == b->u.packet_id;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
    case MQTT_SUBACK:
        return same_list(&a->u.list, &b->u.list);
    default:
        return true;
    }
}

static void check_reencode(const uint8_t *buf, size_t n, size_t header, const struct mqtt_packet *p)
{
    size_t m = reencode(p, enc, sizeof(enc));
    check(m > 0);
    struct mqtt_packet q;
    check(mqtt_parse(enc, m, MAX_PACKET + 16, &q) == (int)m);
    check(same_packet(p, &q));
    /* The encoder always takes the shortest length form; with it the bytes are the same. */
    size_t rem = n - header;
    size_t shortest = rem < 128 ? 2 : rem < 16384 ? 3 : rem < 2097152 ? 4 : 5;
    if (header == shortest)
        check(m == n && memcmp(enc, buf, n) == 0);
    else
        check(m == n - (header - shortest));
    /* Too small a cap: 0, and nothing written past it. A correct encoder writes at most m
     * bytes, so a sentinel over [cap, m) catches any overrun. (No malloc here: ASan's
     * quarantine would take a gigabyte over a long run.) */
    static uint8_t small[MAX_PACKET + 16];
    size_t caps[] = {0, 1, m / 2, m - 1};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        memset(small + caps[i], 0xA5, m - caps[i]);
        check(reencode(p, small, caps[i]) == 0);
        for (size_t k = caps[i]; k < m; k++)
            check(small[k] == 0xA5);
    }
    if (p->type == MQTT_PUBLISH) {
        static uint8_t head[MAX_PACKET];
        size_t h = mqtt_encode_publish_header(head, sizeof(head), &p->u.publish);
        check(h > 0 && h + p->u.publish.payload_len == m && memcmp(head, enc, h) == 0);
        check(mqtt_encode_publish_header(head, h - 1, &p->u.publish) == 0);
    }
}

/* ---- per packet ---- */

static size_t header_len(const uint8_t *buf)
{
    size_t i = 1;
    while (buf[i] & 128)
        i++;
    return i + 1;
}

static void check_lists(const struct mqtt_packet *p)
{
    const struct mqtt_list *l = &p->u.list;
    size_t pos = 0, count = 0;
    struct mqtt_str f;
    uint8_t q;
    switch (p->type) {
    case MQTT_SUBSCRIBE:
        while (mqtt_subscribe_next(l, &pos, &f, &q)) {
            check(q <= 2);
            keep_filter(f);
            count++;
        }
        break;
    case MQTT_UNSUBSCRIBE:
        while (mqtt_unsubscribe_next(l, &pos, &f)) {
            keep_filter(f);
            count++;
        }
        break;
    case MQTT_SUBACK:
        while (mqtt_suback_next(l, &pos, &q)) {
            check(q <= 2 || q == 0x80);
            count++;
        }
        break;
    default:
        return;
    }
    check(count == l->count && count > 0 && pos == l->items_len);
    check(l->packet_id != 0);
}

static void check_packet(const uint8_t *buf, size_t n, const struct mqtt_packet *p)
{
    struct mqtt_packet q;
    check(p->type == buf[0] >> 4 && p->flags == (buf[0] & 15));
    check(mqtt_parse(buf, n, n, &q) == (int)n);
    check(mqtt_parse(buf, n, n - 1, &q) == MQTT_ERR_TOO_LARGE);
    /* Strict prefixes: all of them for small packets, a sample for large ones. */
    size_t step = n <= 64 ? 1 : n / 16;
    for (size_t k = 0; k < n; k += step)
        check(mqtt_parse(buf, k, MAX_PACKET, &q) == MQTT_INCOMPLETE);
    check(mqtt_parse(buf, n - 1, MAX_PACKET, &q) == MQTT_INCOMPLETE);

    switch (p->type) {
    case MQTT_CONNECT: {
        const struct mqtt_connect *c = &p->u.connect;
        check(c->level == 4 && c->will_qos <= 2);
        check(mqtt_check_utf8(c->client_id.ptr, c->client_id.len) == 0);
        check(!c->has_password || c->has_username);
        check(c->has_will || (c->will_qos == 0 && !c->will_retain));
        if (c->has_will)
            keep_topic(c->will_topic);
        break;
    }
    case MQTT_PUBLISH: {
        const struct mqtt_publish *m = &p->u.publish;
        check(m->qos <= 2 && (m->qos == 0) == (m->packet_id == 0) && (!m->dup || m->qos));
        check(m->payload + m->payload_len == buf + n);
        keep_topic(m->topic);
        break;
    }
    case MQTT_CONNACK:
        check(p->u.connack.return_code <= 5);
        break;
    default:
        check_lists(p);
        break;
    }
    check_reencode(buf, n, header_len(buf), p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nfilters = ntopics = 0;
    /* The string checks against the reference, on the raw input. */
    size_t slen = size < 512 ? size : 512;
    check((mqtt_check_utf8((const char *)data, slen) == 0) == ref_utf8(data, slen));
    int t = mqtt_check_topic((const char *)data, slen);
    check(t == 0 || t == MQTT_ERR_TOPIC || t == MQTT_ERR_UTF8);
    check((t == 0) == (slen > 0 && ref_utf8(data, slen) && !memchr(data, '+', slen) &&
                       !memchr(data, '#', slen)));

    size_t pos = 0;
    while (pos < size) {
        struct mqtt_packet p;
        int n = mqtt_parse(data + pos, size - pos, MAX_PACKET, &p);
        check(n >= MQTT_ERR_TYPE && mqtt_strerror(n) != NULL);
        if (n <= 0)
            break;
        check((size_t)n <= size - pos && (size_t)n <= MAX_PACKET);
        check_packet(data + pos, (size_t)n, &p);
        pos += (size_t)n;
    }
    match_all();
    return 0;
}
