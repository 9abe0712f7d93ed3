/* MQTT 3.1.1 codec: pure functions over bytes, no I/O, no allocation, no role switches.
 * The same code serves the daemon, libiothub and the bench tool; role rules (first packet
 * must be CONNECT, which packets a server accepts) live in the session layers.
 *
 * Parsing is incremental in the h2o style: the caller keeps unparsed input in a buffer and
 * calls mqtt_parse() on it; the result is the number of bytes one whole packet took (> 0),
 * MQTT_INCOMPLETE (0: read more), or a negative enum mqtt_error. A packet whose declared
 * size exceeds the caller's limit is refused from its fixed header alone, before its body
 * arrives. Parsed strings and payloads are views into the caller's buffer, valid while it
 * is unchanged.
 *
 * Strictness follows the standard's normative rules: remaining length of at most 4 bytes,
 * reserved flag bits, well-formed UTF-8 without U+0000 in every string, no wildcards in
 * PUBLISH topics, packet ids non-zero where required, QoS 3 refused, and lengths that add up
 * exactly. */
#ifndef IOTHUB_MQTT_MQTT_H
#define IOTHUB_MQTT_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
};

#define MQTT_INCOMPLETE 0

enum mqtt_error {
    MQTT_ERR_MALFORMED = -1,        /* lengths that do not add up, bad field */
    MQTT_ERR_RESERVED_FLAGS = -2,   /* fixed-header flags the standard fixes */
    MQTT_ERR_REMAINING_LENGTH = -3, /* more than 4 length bytes */
    MQTT_ERR_TOO_LARGE = -4,        /* declared size above the caller's limit */
    MQTT_ERR_UTF8 = -5,             /* ill-formed UTF-8 or U+0000 in a string */
    MQTT_ERR_PROTOCOL_NAME = -6,    /* CONNECT protocol name is not "MQTT" */
    MQTT_ERR_PROTOCOL_LEVEL = -7,   /* CONNECT level is not 4: answer CONNACK 1 */
    MQTT_ERR_PACKET_ID = -8,        /* packet id 0 where one is required */
    MQTT_ERR_QOS = -9,              /* QoS 3, or a bad requested QoS in SUBSCRIBE */
    MQTT_ERR_TOPIC = -10,           /* empty topic, wildcard in a PUBLISH topic, bad filter */
    MQTT_ERR_TYPE = -11,            /* packet type 0 or 15 */
};

const char *mqtt_strerror(int err);

struct mqtt_str {
    const char *ptr; /* not NUL-terminated */
    size_t len;
};

struct mqtt_connect {
    uint8_t level;
    bool clean_session;
    uint16_t keepalive; /* seconds */
    struct mqtt_str client_id;
    bool has_will;
    uint8_t will_qos;
    bool will_retain;
    struct mqtt_str will_topic;
    struct mqtt_str will_payload; /* binary */
    bool has_username;
    struct mqtt_str username;
    bool has_password;
    struct mqtt_str password; /* binary */
};

struct mqtt_connack {
    bool session_present;
    uint8_t return_code;
};

struct mqtt_publish {
    bool dup;
    uint8_t qos;
    bool retain;
    struct mqtt_str topic;
    uint16_t packet_id; /* 0 for QoS 0 */
    const uint8_t *payload;
    size_t payload_len;
};

/* SUBSCRIBE, UNSUBSCRIBE and SUBACK carry lists; walk them with the iterators below. */
struct mqtt_list {
    uint16_t packet_id;
    const uint8_t *items; /* the variable part after the packet id */
    size_t items_len;
    size_t count; /* number of entries, counted (and validated) by the parser */
};

struct mqtt_packet {
    enum mqtt_type type;
    uint8_t flags; /* low nibble of the first byte */
    union {
        struct mqtt_connect connect;
        struct mqtt_connack connack;
        struct mqtt_publish publish;
        uint16_t packet_id;    /* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK */
        struct mqtt_list list; /* SUBSCRIBE, UNSUBSCRIBE, SUBACK */
    } u;
};

/* Parses one packet from buf. max_packet bounds the whole packet (fixed header included). */
int mqtt_parse(const uint8_t *buf, size_t len, size_t max_packet, struct mqtt_packet *out);

/* Iterators over a parsed list; *pos starts at 0. Return false at the end. */
bool mqtt_subscribe_next(const struct mqtt_list *l, size_t *pos, struct mqtt_str *filter,
                         uint8_t *qos);
bool mqtt_unsubscribe_next(const struct mqtt_list *l, size_t *pos, struct mqtt_str *filter);
bool mqtt_suback_next(const struct mqtt_list *l, size_t *pos, uint8_t *code);

/* Encoders write one packet into out and return its length, or 0 when cap is too small.
 * The largest fixed header is 5 bytes. They also return 0 for a packet that cannot be sent:
 * QoS above 2, DUP on QoS 0, packet id 0 where one is required, an empty topic, filter or
 * list, a CONNACK or SUBACK code the standard does not define, a string over 65535 bytes or
 * a remaining length over 268435455. Strings are not checked for UTF-8 or wildcards here
 * (see mqtt_check_topic, mqtt_check_filter). CONNECT is always "MQTT" level 4 (c->level is
 * not read); CONNACK sends session_present only with code 0 (MQTT-3.2.2-4). */
size_t mqtt_encode_connect(uint8_t *out, size_t cap, const struct mqtt_connect *c);
size_t mqtt_encode_connack(uint8_t *out, size_t cap, bool session_present, uint8_t code);
/* The whole PUBLISH, payload included. */
size_t mqtt_encode_publish(uint8_t *out, size_t cap, const struct mqtt_publish *p);
/* Only the fixed header, topic and packet id of a PUBLISH whose payload the caller sends
 * right after (no copy of the payload). */
size_t mqtt_encode_publish_header(uint8_t *out, size_t cap, const struct mqtt_publish *p);
/* PUBACK, PUBREC, PUBREL (flags 2), PUBCOMP, UNSUBACK: 4 bytes. */
size_t mqtt_encode_ack(uint8_t *out, size_t cap, enum mqtt_type type, uint16_t packet_id);
size_t mqtt_encode_subscribe(uint8_t *out, size_t cap, uint16_t packet_id,
                             const struct mqtt_str *filters, const uint8_t *qos, size_t count);
size_t mqtt_encode_suback(uint8_t *out, size_t cap, uint16_t packet_id, const uint8_t *codes,
                          size_t count);
size_t mqtt_encode_unsubscribe(uint8_t *out, size_t cap, uint16_t packet_id,
                               const struct mqtt_str *filters, size_t count);
/* PINGREQ, PINGRESP, DISCONNECT: 2 bytes. */
size_t mqtt_encode_empty(uint8_t *out, size_t cap, enum mqtt_type type);

/* CONNACK return codes. */
enum mqtt_connack_code {
    MQTT_CONNACK_ACCEPTED = 0,
    MQTT_CONNACK_BAD_PROTOCOL = 1,
    MQTT_CONNACK_ID_REJECTED = 2,
    MQTT_CONNACK_UNAVAILABLE = 3,
    MQTT_CONNACK_BAD_CREDENTIALS = 4,
    MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

/* Topic filter matching with + and # (for the hub's own subscriptions). The filter is
 * assumed valid (mqtt_check_filter); a topic starting with '$' never matches a filter
 * starting with a wildcard (MQTT-4.7.2-1). */
bool mqtt_topic_matches(const char *filter, size_t filter_len, const char *topic, size_t topic_len);

/* The checks mqtt_parse applies to strings, for callers that build or route packets. Each
 * returns 0 or a negative enum mqtt_error. */
/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF) without U+0000. */
int mqtt_check_utf8(const char *s, size_t len);
/* A PUBLISH (or will) topic name: non-empty, UTF-8, no '+' or '#'. */
int mqtt_check_topic(const char *s, size_t len);
/* A SUBSCRIBE / UNSUBSCRIBE filter: non-empty, UTF-8, '+' alone in its level, '#' alone in
 * the last level. */
int mqtt_check_filter(const char *s, size_t len);

#endif
