/* MQTT 3.1.1 parser: every packet type, the captured Node SDK packets, incremental input,
 * and each normative violation refused with its error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mqtt/mqtt.h"
#include "mqtt/propbag.h"
#include "mqtt/wire_fixtures.h"

#define MAX (1u << 20)

static struct mqtt_packet pkt;
static uint8_t wire[4096];

/* A packet body built field by field, then framed by frame(). */
static uint8_t body[2048];
static size_t blen;

static void b_reset(void)
{
    blen = 0;
}

static void b_u8(unsigned v)
{
    body[blen++] = (uint8_t)v;
}

static void b_u16(unsigned v)
{
    b_u8(v >> 8);
    b_u8(v & 255);
}

static void b_raw(const void *p, size_t n)
{
    memcpy(body + blen, p, n);
    blen += n;
}

static void b_strn(const char *s, size_t n)
{
    b_u16((unsigned)n);
    b_raw(s, n);
}

static void b_str(const char *s)
{
    b_strn(s, strlen(s));
}

/* Fixed header (minimal length encoding) + body into wire; returns the packet length. */
static size_t frame(unsigned first)
{
    size_t n = 0, rem = blen;
    wire[n++] = (uint8_t)first;
    do {
        uint8_t d = rem & 127;
        rem >>= 7;
        wire[n++] = rem ? d | 128 : d;
    } while (rem);
    memcpy(wire + n, body, blen);
    return n + blen;
}

static int parse_framed(unsigned first)
{
    size_t n = frame(first);
    return mqtt_parse(wire, n, MAX, &pkt);
}

#define BYTES(...)         ((const uint8_t[]){__VA_ARGS__})
#define NBYTES(...)        sizeof((const uint8_t[]){__VA_ARGS__})
#define PARSE_BYTES(...)   mqtt_parse(BYTES(__VA_ARGS__), NBYTES(__VA_ARGS__), MAX, &pkt)
#define assert_str(s, lit) assert_true((s).len == strlen(lit) && memcmp((s).ptr, lit, (s).len) == 0)

/* CONNECT head: protocol name, level, flags, keep-alive 60. */
static void b_connect_head(const char *name, unsigned level, unsigned flags)
{
    b_reset();
    b_str(name);
    b_u8(level);
    b_u8(flags);
    b_u16(60);
}

/* Every strict prefix is incomplete, the whole parses to n, and trailing bytes are left. */
static void assert_incremental(const uint8_t *b, size_t n)
{
    struct mqtt_packet p;
    for (size_t k = 0; k < n; k++)
        assert_int_equal(mqtt_parse(b, k, MAX, &p), MQTT_INCOMPLETE);
    assert_int_equal(mqtt_parse(b, n, MAX, &p), (int)n);
    uint8_t more[4096 + 8];
    memcpy(more, b, n);
    memcpy(more + n, "\x30\x05\x00\x01", 4);
    assert_int_equal(mqtt_parse(more, n + 4, MAX, &p), (int)n);
}

static size_t load(const char *hex)
{
    return unhex(hex, wire, sizeof(wire));
}

/* ---- captured packets ---- */

static void test_capture_connect(void **state)
{
    (void)state;
    size_t n = load(CAP_D2C_CONNECT);
    assert_int_equal(n, 309);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 309);
    assert_int_equal(pkt.type, MQTT_CONNECT);
    const struct mqtt_connect *c = &pkt.u.connect;
    assert_int_equal(c->level, 4);
    assert_false(c->clean_session);
    assert_int_equal(c->keepalive, 180);
    assert_str(c->client_id, "wirecap-device-01");
    assert_false(c->has_will);
    assert_true(c->has_username);
    assert_str(c->username,
               "localhost/wirecap-device-01/?api-version=2021-04-12&DeviceClientType="
               "azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)");
    assert_true(c->has_password);
    assert_str(c->password, "SharedAccessSignature sr=localhost%2Fdevices%2Fwirecap-device-01&sig="
                            "GKDX%2B50JBaVqSiaYz7E5YZ6ll%2FhD0glBrJzivMTQZoI%3D&se=1795670505");
    assert_incremental(wire, n);

    n = load(CAP_TWIN_CONNECT);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 305);
    assert_str(pkt.u.connect.client_id, "wirecap-device-01");
}

static void test_capture_publish_with_properties(void **state)
{
    (void)state;
    size_t n = load(CAP_D2C_PUBLISH_PROPS);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 187);
    assert_int_equal(pkt.type, MQTT_PUBLISH);
    const struct mqtt_publish *p = &pkt.u.publish;
    assert_int_equal(p->qos, 1);
    assert_false(p->dup);
    assert_false(p->retain);
    assert_int_equal(p->packet_id, 54387);
    static const char prefix[] = "devices/wirecap-device-01/messages/events/";
    assert_str(p->topic, "devices/wirecap-device-01/messages/events/%24.mid=msg-0001&%24.cid=corr-"
                         "0001&%24.ct=application%2Fjson&%24.ce=utf-8&color=red&with%20space=a%20b%"
                         "26c%3Dd");
    assert_int_equal(p->payload_len, 28);
    assert_memory_equal(p->payload, "{\"temperature\":21.5,\"seq\":1}", 28);

    /* The bag after the events topic decodes to the message's properties. */
    size_t plen = strlen(prefix);
    assert_memory_equal(p->topic.ptr, prefix, plen);
    struct propbag_entry e[8];
    char scratch[256];
    int count =
        propbag_parse(p->topic.ptr + plen, p->topic.len - plen, e, 8, scratch, sizeof(scratch));
    assert_int_equal(count, 6);
    assert_string_equal(e[0].key, "$.mid");
    assert_string_equal(e[0].value, "msg-0001");
    assert_string_equal(e[1].key, "$.cid");
    assert_string_equal(e[1].value, "corr-0001");
    assert_string_equal(e[2].key, "$.ct");
    assert_string_equal(e[2].value, "application/json");
    assert_string_equal(e[3].key, "$.ce");
    assert_string_equal(e[3].value, "utf-8");
    assert_string_equal(e[4].key, "color");
    assert_string_equal(e[4].value, "red");
    assert_string_equal(e[5].key, "with space");
    assert_string_equal(e[5].value, "a b&c=d");
    assert_incremental(wire, n);
}

static void test_capture_publish_other(void **state)
{
    (void)state;
    size_t n = load(CAP_D2C_PUBLISH_BARE);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 63);
    assert_str(pkt.u.publish.topic, "devices/wirecap-device-01/messages/events/");
    assert_int_equal(pkt.u.publish.packet_id, 54388);
    assert_int_equal(pkt.u.publish.payload_len, 15);

    n = load(CAP_TWIN_GET);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 64);
    assert_int_equal(pkt.u.publish.qos, 0);
    assert_int_equal(pkt.u.publish.packet_id, 0);
    assert_str(pkt.u.publish.topic, "$iothub/twin/GET/?$rid=1e2fe072-e75e-4248-96be-8afa1bb7190d");
    assert_int_equal(pkt.u.publish.payload_len, 1);
    assert_int_equal(pkt.u.publish.payload[0], ' ');
    assert_incremental(wire, n);

    n = load(CAP_METHODS_RESPONSE);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 60);
    assert_str(pkt.u.publish.topic, "$iothub/methods/res/200/?$rid=1");
    assert_int_equal(pkt.u.publish.payload_len, 25);

    n = load(CAP_C2D_PUBLISH);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 253);
    assert_int_equal(pkt.u.publish.packet_id, 100);
    assert_int_equal(pkt.u.publish.payload_len, 29);

    n = load(CAP_TWIN_REPORTED);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 128);
    assert_int_equal(pkt.u.publish.payload_len, 43);
}

static void test_capture_subscribe(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        uint16_t id;
        const char *filter;
        uint8_t qos;
    } cases[] = {
        {CAP_C2D_SUBSCRIBE, 12668, "devices/wirecap-device-01/messages/devicebound/#", 1},
        {CAP_TWIN_SUBSCRIBE, 40466, "$iothub/twin/res/#", 0},
        {CAP_TWIN_SUBSCRIBE_DESIRED, 40467, "$iothub/twin/PATCH/properties/desired/#", 0},
        {CAP_METHODS_SUBSCRIBE, 8474, "$iothub/methods/POST/#", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = load(cases[i].hex);
        assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), (int)n);
        assert_int_equal(pkt.type, MQTT_SUBSCRIBE);
        assert_int_equal(pkt.flags, 2);
        assert_int_equal(pkt.u.list.packet_id, cases[i].id);
        assert_int_equal(pkt.u.list.count, 1);
        size_t pos = 0;
        struct mqtt_str f;
        uint8_t qos;
        assert_true(mqtt_subscribe_next(&pkt.u.list, &pos, &f, &qos));
        assert_str(f, cases[i].filter);
        assert_int_equal(qos, cases[i].qos);
        assert_false(mqtt_subscribe_next(&pkt.u.list, &pos, &f, &qos));
        assert_incremental(wire, n);
    }
}

static void test_capture_acks(void **state)
{
    (void)state;
    size_t n = load(CAP_CONNACK);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 4);
    assert_int_equal(pkt.type, MQTT_CONNACK);
    assert_false(pkt.u.connack.session_present);
    assert_int_equal(pkt.u.connack.return_code, 0);

    n = load(CAP_PUBACK);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 4);
    assert_int_equal(pkt.type, MQTT_PUBACK);
    assert_int_equal(pkt.u.packet_id, 54387);

    n = load(CAP_C2D_SUBACK);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 5);
    assert_int_equal(pkt.type, MQTT_SUBACK);
    assert_int_equal(pkt.u.list.packet_id, 12668);
    assert_int_equal(pkt.u.list.count, 1);
    size_t pos = 0;
    uint8_t code;
    assert_true(mqtt_suback_next(&pkt.u.list, &pos, &code));
    assert_int_equal(code, 1);
    assert_false(mqtt_suback_next(&pkt.u.list, &pos, &code));

    n = load(CAP_DISCONNECT);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 2);
    assert_int_equal(pkt.type, MQTT_DISCONNECT);
}

/* The client's side of the d2c session as one stream, parsed packet after packet. */
static void test_capture_stream(void **state)
{
    (void)state;
    static uint8_t stream[1024];
    size_t len = 0;
    static const char *const parts[] = {CAP_D2C_CONNECT, CAP_D2C_PUBLISH_PROPS,
                                        CAP_D2C_PUBLISH_BARE, CAP_DISCONNECT};
    for (size_t i = 0; i < 4; i++)
        len += unhex(parts[i], stream + len, sizeof(stream) - len);
    static const enum mqtt_type types[] = {MQTT_CONNECT, MQTT_PUBLISH, MQTT_PUBLISH,
                                           MQTT_DISCONNECT};
    static const int sizes[] = {309, 187, 63, 2};
    size_t pos = 0;
    for (size_t i = 0; i < 4; i++) {
        int n = mqtt_parse(stream + pos, len - pos, MAX, &pkt);
        assert_int_equal(n, sizes[i]);
        assert_int_equal(pkt.type, types[i]);
        pos += (size_t)n;
    }
    assert_int_equal(pos, len);
    assert_int_equal(mqtt_parse(stream + pos, 0, MAX, &pkt), MQTT_INCOMPLETE);
}

/* ---- every type, hand-made ---- */

static void test_connect_all_fields(void **state)
{
    (void)state;
    /* will QoS 2 + retain, clean session, username, binary password */
    b_connect_head("MQTT", 4, 0x80 | 0x40 | 0x20 | 0x10 | 0x04 | 0x02);
    b_str("dev-\xc3\xa9");
    b_str("will/topic");
    b_strn("\x00\xff\x01", 3);
    b_str("user");
    b_strn("\x00pw\xff", 4);
    size_t n = frame(0x10);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), (int)n);
    const struct mqtt_connect *c = &pkt.u.connect;
    assert_int_equal(c->level, 4);
    assert_true(c->clean_session);
    assert_int_equal(c->keepalive, 60);
    assert_str(c->client_id, "dev-\xc3\xa9");
    assert_true(c->has_will);
    assert_int_equal(c->will_qos, 2);
    assert_true(c->will_retain);
    assert_str(c->will_topic, "will/topic");
    assert_int_equal(c->will_payload.len, 3);
    assert_memory_equal(c->will_payload.ptr, "\x00\xff\x01", 3);
    assert_true(c->has_username);
    assert_str(c->username, "user");
    assert_true(c->has_password);
    assert_int_equal(c->password.len, 4);
    assert_memory_equal(c->password.ptr, "\x00pw\xff", 4);
    assert_incremental(wire, n);

    /* Minimal: empty client id (the session layer decides about it), nothing else. */
    b_connect_head("MQTT", 4, 0x02);
    b_str("");
    n = frame(0x10);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 14);
    assert_int_equal(pkt.u.connect.client_id.len, 0);
    assert_false(pkt.u.connect.has_username);
    assert_false(pkt.u.connect.has_password);
    assert_false(pkt.u.connect.has_will);
    assert_incremental(wire, n);

    /* Username alone; will QoS 1 without retain. */
    b_connect_head("MQTT", 4, 0x80 | 0x08 | 0x04);
    b_str("c");
    b_str("w");
    b_str("");
    b_str("u");
    assert_int_equal(parse_framed(0x10), (int)(2 + blen));
    assert_int_equal(pkt.u.connect.will_qos, 1);
    assert_false(pkt.u.connect.will_retain);
    assert_int_equal(pkt.u.connect.will_payload.len, 0);
    assert_false(pkt.u.connect.has_password);
}

static void test_other_types(void **state)
{
    (void)state;
    /* CONNACK with session present, and each refusal code */
    assert_int_equal(PARSE_BYTES(0x20, 0x02, 0x01, 0x00), 4);
    assert_true(pkt.u.connack.session_present);
    for (unsigned rc = 1; rc <= 5; rc++) {
        assert_int_equal(PARSE_BYTES(0x20, 0x02, 0x00, (uint8_t)rc), 4);
        assert_int_equal(pkt.u.connack.return_code, rc);
    }
    /* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK */
    static const uint8_t acks[] = {0x40, 0x50, 0x62, 0x70, 0xB0};
    for (size_t i = 0; i < sizeof(acks); i++) {
        uint8_t b[4] = {acks[i], 2, 0xAB, 0xCD};
        assert_int_equal(mqtt_parse(b, 4, MAX, &pkt), 4);
        assert_int_equal(pkt.type, acks[i] >> 4);
        assert_int_equal(pkt.flags, acks[i] & 15);
        assert_int_equal(pkt.u.packet_id, 0xABCD);
        assert_incremental(b, 4);
    }
    /* PINGREQ, PINGRESP, DISCONNECT */
    assert_int_equal(PARSE_BYTES(0xC0, 0x00), 2);
    assert_int_equal(pkt.type, MQTT_PINGREQ);
    assert_int_equal(PARSE_BYTES(0xD0, 0x00), 2);
    assert_int_equal(pkt.type, MQTT_PINGRESP);
    assert_int_equal(PARSE_BYTES(0xE0, 0x00), 2);
    assert_int_equal(pkt.type, MQTT_DISCONNECT);

    /* PUBLISH QoS 2, DUP, retain, empty payload */
    b_reset();
    b_str("a/b");
    b_u16(7);
    size_t n = frame(0x3D);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), (int)n);
    assert_true(pkt.u.publish.dup);
    assert_int_equal(pkt.u.publish.qos, 2);
    assert_true(pkt.u.publish.retain);
    assert_int_equal(pkt.u.publish.packet_id, 7);
    assert_int_equal(pkt.u.publish.payload_len, 0);
    assert_incremental(wire, n);

    /* SUBSCRIBE with three pairs */
    b_reset();
    b_u16(1);
    b_str("#");
    b_u8(0);
    b_str("a/+/c");
    b_u8(1);
    b_str("$SYS/#");
    b_u8(2);
    n = frame(0x82);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), (int)n);
    assert_int_equal(pkt.u.list.count, 3);
    size_t pos = 0;
    struct mqtt_str f;
    uint8_t qos;
    assert_true(mqtt_subscribe_next(&pkt.u.list, &pos, &f, &qos));
    assert_str(f, "#");
    assert_int_equal(qos, 0);
    assert_true(mqtt_subscribe_next(&pkt.u.list, &pos, &f, &qos));
    assert_str(f, "a/+/c");
    assert_int_equal(qos, 1);
    assert_true(mqtt_subscribe_next(&pkt.u.list, &pos, &f, &qos));
    assert_str(f, "$SYS/#");
    assert_int_equal(qos, 2);
    assert_false(mqtt_subscribe_next(&pkt.u.list, &pos, &f, &qos));
    assert_incremental(wire, n);

    /* UNSUBSCRIBE with two filters */
    b_reset();
    b_u16(9);
    b_str("x/y");
    b_str("+");
    n = frame(0xA2);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), (int)n);
    assert_int_equal(pkt.type, MQTT_UNSUBSCRIBE);
    assert_int_equal(pkt.u.list.packet_id, 9);
    assert_int_equal(pkt.u.list.count, 2);
    pos = 0;
    assert_true(mqtt_unsubscribe_next(&pkt.u.list, &pos, &f));
    assert_str(f, "x/y");
    assert_true(mqtt_unsubscribe_next(&pkt.u.list, &pos, &f));
    assert_str(f, "+");
    assert_false(mqtt_unsubscribe_next(&pkt.u.list, &pos, &f));
    assert_incremental(wire, n);

    /* SUBACK with every code */
    assert_int_equal(PARSE_BYTES(0x90, 0x06, 0x00, 0x05, 0x00, 0x01, 0x02, 0x80), 8);
    assert_int_equal(pkt.u.list.count, 4);
    static const uint8_t want[] = {0, 1, 2, 0x80};
    pos = 0;
    uint8_t code;
    for (size_t i = 0; i < 4; i++) {
        assert_true(mqtt_suback_next(&pkt.u.list, &pos, &code));
        assert_int_equal(code, want[i]);
    }
    assert_false(mqtt_suback_next(&pkt.u.list, &pos, &code));
}

/* ---- framing ---- */

static void test_back_to_back(void **state)
{
    (void)state;
    const uint8_t *b = BYTES(0x40, 0x02, 0x00, 0x01, 0x30, 0x04, 0x00, 0x01, 'a', 'x', 0xC0, 0x00);
    size_t len = 12;
    assert_int_equal(mqtt_parse(b, len, MAX, &pkt), 4);
    assert_int_equal(pkt.type, MQTT_PUBACK);
    assert_int_equal(mqtt_parse(b + 4, len - 4, MAX, &pkt), 6);
    assert_int_equal(pkt.type, MQTT_PUBLISH);
    assert_int_equal(pkt.u.publish.payload_len, 1);
    assert_int_equal(pkt.u.publish.payload[0], 'x');
    assert_int_equal(mqtt_parse(b + 10, len - 10, MAX, &pkt), 2);
    assert_int_equal(pkt.type, MQTT_PINGREQ);
}

static void test_too_large_from_header(void **state)
{
    (void)state;
    /* 3 + 200 declared; refused with only the header in hand. */
    assert_int_equal(mqtt_parse(BYTES(0x30, 0xC8, 0x01), 3, 203, &pkt), MQTT_INCOMPLETE);
    assert_int_equal(mqtt_parse(BYTES(0x30, 0xC8, 0x01), 3, 202, &pkt), MQTT_ERR_TOO_LARGE);
    assert_int_equal(mqtt_parse(BYTES(0x30, 0xFF, 0xFF, 0xFF, 0x7F), 5, MAX, &pkt),
                     MQTT_ERR_TOO_LARGE);
    /* 268435455, the largest length, with a limit just above it: wait for the body. */
    assert_int_equal(mqtt_parse(BYTES(0x30, 0xFF, 0xFF, 0xFF, 0x7F), 5, 268435460, &pkt),
                     MQTT_INCOMPLETE);
    assert_int_equal(mqtt_parse(BYTES(0x30, 0xFF, 0xFF, 0xFF, 0x7F), 5, 268435459, &pkt),
                     MQTT_ERR_TOO_LARGE);
    /* A packet exactly at the limit is accepted. */
    assert_int_equal(mqtt_parse(BYTES(0x30, 0x04, 0x00, 0x01, 'a', 'x'), 6, 6, &pkt), 6);
    assert_int_equal(mqtt_parse(BYTES(0x30, 0x04, 0x00, 0x01, 'a', 'x'), 6, 5, &pkt),
                     MQTT_ERR_TOO_LARGE);
    /* A partial length already over the limit: 0xFF means at least 127 more bytes. */
    assert_int_equal(mqtt_parse(BYTES(0x30, 0xFF), 2, 100, &pkt), MQTT_ERR_TOO_LARGE);
    assert_int_equal(mqtt_parse(BYTES(0x30, 0xFF), 2, 1000, &pkt), MQTT_INCOMPLETE);
    assert_int_equal(mqtt_parse(BYTES(0x30, 0xFF, 0xFF), 3, 16000, &pkt), MQTT_ERR_TOO_LARGE);
    /* Any packet type. */
    assert_int_equal(mqtt_parse(BYTES(0x10, 0x80, 0x01), 3, 100, &pkt), MQTT_ERR_TOO_LARGE);
}

static void test_remaining_length(void **state)
{
    (void)state;
    /* A fourth byte with its continuation bit set: refused without waiting for a fifth. */
    assert_int_equal(PARSE_BYTES(0x30, 0x80, 0x80, 0x80, 0x80), MQTT_ERR_REMAINING_LENGTH);
    assert_int_equal(PARSE_BYTES(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), MQTT_ERR_REMAINING_LENGTH);
    /* Partial lengths are incomplete. */
    assert_int_equal(PARSE_BYTES(0x30), MQTT_INCOMPLETE);
    assert_int_equal(PARSE_BYTES(0x30, 0x80), MQTT_INCOMPLETE);
    assert_int_equal(PARSE_BYTES(0x30, 0x80, 0x80, 0x80), MQTT_INCOMPLETE);
    /* 3.1.1 does not require the shortest form: 0x80 0x00 is 0. */
    assert_int_equal(PARSE_BYTES(0xC0, 0x80, 0x00), 3);
    assert_int_equal(pkt.type, MQTT_PINGREQ);
    assert_int_equal(PARSE_BYTES(0x40, 0x82, 0x80, 0x00, 0x00, 0x01), 6);
    assert_int_equal(pkt.u.packet_id, 1);
    /* 321 = 0xC1 0x02 */
    b_reset();
    b_str("t");
    for (int i = 0; i < 318; i++)
        b_u8('p');
    assert_int_equal(blen, 321);
    size_t n = frame(0x30);
    assert_int_equal(wire[1], 0xC1);
    assert_int_equal(wire[2], 0x02);
    assert_int_equal(mqtt_parse(wire, n, MAX, &pkt), 324);
    assert_int_equal(pkt.u.publish.payload_len, 318);
    assert_incremental(wire, n);
}

static void test_type_and_flags(void **state)
{
    (void)state;
    assert_int_equal(PARSE_BYTES(0x00, 0x00), MQTT_ERR_TYPE);
    assert_int_equal(PARSE_BYTES(0xF0, 0x00), MQTT_ERR_TYPE);
    assert_int_equal(PARSE_BYTES(0x00), MQTT_ERR_TYPE); /* from the first byte alone */
    for (unsigned type = 1; type <= 14; type++) {
        if (type == MQTT_PUBLISH)
            continue;
        unsigned want =
            type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE ? 2 : 0;
        for (unsigned flags = 0; flags < 16; flags++) {
            uint8_t first = (uint8_t)(type << 4 | flags);
            int rc = mqtt_parse(&first, 1, MAX, &pkt);
            assert_int_equal(rc, flags == want ? MQTT_INCOMPLETE : MQTT_ERR_RESERVED_FLAGS);
        }
    }
    /* PUBLISH: QoS 3 with or without DUP and retain; DUP on QoS 0. */
    for (unsigned flags = 0; flags < 16; flags++) {
        uint8_t first = (uint8_t)(0x30 | flags);
        int want = (flags & 6) == 6              ? MQTT_ERR_QOS
                   : (flags & 8) && !(flags & 6) ? MQTT_ERR_MALFORMED
                                                 : MQTT_INCOMPLETE;
        assert_int_equal(mqtt_parse(&first, 1, MAX, &pkt), want);
    }
}

static void test_fixed_sizes(void **state)
{
    (void)state;
    /* Refused from the header: the body is not needed. */
    assert_int_equal(PARSE_BYTES(0x40, 0x03), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x40, 0x01, 0x00), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x20, 0x03), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x62, 0x00), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0xB0, 0x04), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0xC0, 0x01), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0xD0, 0x01, 0x00), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0xE0, 0x7F), MQTT_ERR_MALFORMED);
    /* packet id 0 */
    assert_int_equal(PARSE_BYTES(0x40, 0x02, 0x00, 0x00), MQTT_ERR_PACKET_ID);
    assert_int_equal(PARSE_BYTES(0x50, 0x02, 0x00, 0x00), MQTT_ERR_PACKET_ID);
    assert_int_equal(PARSE_BYTES(0x62, 0x02, 0x00, 0x00), MQTT_ERR_PACKET_ID);
    assert_int_equal(PARSE_BYTES(0x70, 0x02, 0x00, 0x00), MQTT_ERR_PACKET_ID);
    assert_int_equal(PARSE_BYTES(0xB0, 0x02, 0x00, 0x00), MQTT_ERR_PACKET_ID);
}

static void test_connack_rules(void **state)
{
    (void)state;
    assert_int_equal(PARSE_BYTES(0x20, 0x02, 0x02, 0x00), MQTT_ERR_MALFORMED); /* reserved */
    assert_int_equal(PARSE_BYTES(0x20, 0x02, 0x80, 0x00), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x20, 0x02, 0x00, 0x06), MQTT_ERR_MALFORMED); /* rc 6 */
    assert_int_equal(PARSE_BYTES(0x20, 0x02, 0x00, 0xFF), MQTT_ERR_MALFORMED);
    /* MQTT-3.2.2-4: a refusal never has session present */
    assert_int_equal(PARSE_BYTES(0x20, 0x02, 0x01, 0x05), MQTT_ERR_MALFORMED);
}

/* ---- CONNECT violations ---- */

static void test_connect_protocol(void **state)
{
    (void)state;
    static const char *const names[] = {"MQTX", "mqtt", "MQT", "MQTTT", "", "MQIsdp"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        b_connect_head(names[i], 4, 0x02);
        b_str("c");
        assert_int_equal(parse_framed(0x10), MQTT_ERR_PROTOCOL_NAME);
    }
    b_connect_head("MQIsdp", 3, 0x02); /* MQTT 3.1 */
    b_str("c");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_PROTOCOL_NAME);
    for (unsigned level = 0; level < 256; level++) {
        if (level == 4)
            continue;
        b_connect_head("MQTT", level, 0x02);
        b_str("c");
        assert_int_equal(parse_framed(0x10), MQTT_ERR_PROTOCOL_LEVEL);
    }
    /* MQTT 5 (level 5, then properties): answered as level, whatever follows. */
    b_reset();
    b_str("MQTT");
    b_u8(5);
    assert_int_equal(parse_framed(0x10), MQTT_ERR_PROTOCOL_LEVEL);
    /* Cut inside the name or before the level. */
    b_reset();
    b_u16(4);
    b_raw("MQ", 2);
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_reset();
    b_str("MQTT");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_reset();
    b_str("MQTT");
    b_u8(4);
    b_u8(0x02);
    b_u8(0);
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED); /* keep-alive cut */
}

static void test_connect_flags(void **state)
{
    (void)state;
    b_connect_head("MQTT", 4, 0x03); /* reserved bit 0 */
    b_str("c");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0x08); /* will QoS 1 without will flag */
    b_str("c");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0x10); /* will QoS 2 without will flag */
    b_str("c");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0x20); /* will retain without will flag */
    b_str("c");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0x1C); /* will QoS 3 */
    b_str("c");
    b_str("w");
    b_str("p");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_QOS);
    b_connect_head("MQTT", 4, 0x40); /* password without username */
    b_str("c");
    b_str("p");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
}

static void test_connect_strings(void **state)
{
    (void)state;
    b_connect_head("MQTT", 4, 0x02); /* client id: U+0000 */
    b_strn("a\0b", 3);
    assert_int_equal(parse_framed(0x10), MQTT_ERR_UTF8);
    b_connect_head("MQTT", 4, 0x02); /* client id: lone continuation */
    b_strn("a\x80", 2);
    assert_int_equal(parse_framed(0x10), MQTT_ERR_UTF8);
    b_connect_head("MQTT", 4, 0x80); /* username: surrogate */
    b_str("c");
    b_strn("\xed\xa0\x80", 3);
    assert_int_equal(parse_framed(0x10), MQTT_ERR_UTF8);
    b_connect_head("MQTT", 4, 0x04); /* will topic: overlong '/' */
    b_str("c");
    b_strn("a\xc0\xaf", 3);
    b_str("p");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_UTF8);
    b_connect_head("MQTT", 4, 0x04); /* will topic: wildcard */
    b_str("c");
    b_str("a/#");
    b_str("p");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_TOPIC);
    b_connect_head("MQTT", 4, 0x04); /* will topic: empty */
    b_str("c");
    b_str("");
    b_str("p");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_TOPIC);
    /* Binary fields take anything. */
    b_connect_head("MQTT", 4, 0xC4);
    b_str("c");
    b_str("w");
    b_strn("\x00\xc0\xed\xa0\x80", 5);
    b_str("u");
    b_strn("\x00\xff\xfe", 3);
    assert_int_equal(parse_framed(0x10), (int)(2 + blen));
}

static void test_connect_lengths(void **state)
{
    (void)state;
    b_connect_head("MQTT", 4, 0x02); /* trailing byte */
    b_str("c");
    b_u8(0);
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0x02); /* client id missing */
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0x02); /* client id longer than the packet */
    b_u16(5);
    b_raw("abcd", 4);
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0x80); /* username flag, no username */
    b_str("c");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0xC0); /* password flag, no password */
    b_str("c");
    b_str("u");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0x04); /* will payload missing */
    b_str("c");
    b_str("w");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
    b_connect_head("MQTT", 4, 0x00); /* username present but flag clear */
    b_str("c");
    b_str("u");
    assert_int_equal(parse_framed(0x10), MQTT_ERR_MALFORMED);
}

/* ---- PUBLISH violations ---- */

static void test_publish_rules(void **state)
{
    (void)state;
    assert_int_equal(PARSE_BYTES(0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01), MQTT_ERR_QOS);
    assert_int_equal(PARSE_BYTES(0x38, 0x03, 0x00, 0x01, 'a'), MQTT_ERR_MALFORMED); /* DUP 0 */
    assert_int_equal(PARSE_BYTES(0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00), MQTT_ERR_PACKET_ID);
    assert_int_equal(PARSE_BYTES(0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x00), MQTT_ERR_PACKET_ID);
    assert_int_equal(PARSE_BYTES(0x30, 0x02, 0x00, 0x00), MQTT_ERR_TOPIC); /* empty topic */
    assert_int_equal(PARSE_BYTES(0x30, 0x05, 0x00, 0x03, 'a', '/', '+'), MQTT_ERR_TOPIC);
    assert_int_equal(PARSE_BYTES(0x30, 0x05, 0x00, 0x03, 'a', '/', '#'), MQTT_ERR_TOPIC);
    assert_int_equal(PARSE_BYTES(0x30, 0x04, 0x00, 0x02, 'a', '+'), MQTT_ERR_TOPIC);
    assert_int_equal(PARSE_BYTES(0x30, 0x04, 0x00, 0x02, 'a', 0x00), MQTT_ERR_UTF8);
    assert_int_equal(PARSE_BYTES(0x30, 0x04, 0x00, 0x02, 'a', 0xFF), MQTT_ERR_UTF8);
    /* Lengths: topic past the end; QoS 1 without room for the packet id; too short. */
    assert_int_equal(PARSE_BYTES(0x30, 0x03, 0x00, 0x02, 'a'), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x32, 0x04, 0x00, 0x01, 'a', 0x00), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x30, 0x01, 0x00), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x30, 0x00), MQTT_ERR_MALFORMED);
    /* A long topic: the wildcard found past the 8-byte fast path. */
    b_reset();
    b_str("devices/abcdefgh/messages/events/x+y");
    assert_int_equal(parse_framed(0x30), MQTT_ERR_TOPIC);
    b_reset();
    b_str("devices/abcdefgh/messages/events/x#");
    assert_int_equal(parse_framed(0x30), MQTT_ERR_TOPIC);
    b_reset();
    b_strn("devices/abcdefgh/messages/events/\0", 34);
    assert_int_equal(parse_framed(0x30), MQTT_ERR_UTF8);
    /* Fine: '$' topics, empty levels, non-ASCII, a payload of zeros. */
    b_reset();
    b_str("$iothub//\xe2\x82\xac/");
    b_raw("\0\0\0", 3);
    assert_int_equal(parse_framed(0x30), (int)(2 + blen));
    assert_int_equal(pkt.u.publish.payload_len, 3);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        bool ok;
    } cases[] = {
        {"plain ascii text, longer than 8", 31, true},
        {"\xc3\xa9", 2, true},          /* U+00E9 */
        {"\xe2\x82\xac", 3, true},      /* U+20AC */
        {"\xef\xbf\xbf", 3, true},      /* U+FFFF (allowed, SHOULD NOT) */
        {"\xed\x9f\xbf", 3, true},      /* U+D7FF */
        {"\xee\x80\x80", 3, true},      /* U+E000 */
        {"\xf0\x90\x80\x80", 4, true},  /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
        {"\x7f\x01", 2, true},          /* controls are allowed */
        {"\x00", 1, false},             /* U+0000 */
        {"abcdefgh\x00", 9, false},     /* U+0000 after a fast block */
        {"\xc0\x80", 2, false},         /* overlong U+0000 */
        {"\xc1\xbf", 2, false},         /* overlong */
        {"\xe0\x80\x80", 3, false},     /* overlong */
        {"\xe0\x9f\xbf", 3, false},     /* overlong U+07FF */
        {"\xf0\x80\x80\x80", 4, false}, /* overlong */
        {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong U+FFFF */
        {"\xed\xa0\x80", 3, false},     /* U+D800 */
        {"\xed\xbf\xbf", 3, false},     /* U+DFFF */
        {"\xf4\x90\x80\x80", 4, false}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4, false}, /* lead above F4 */
        {"\xff", 1, false},
        {"\x80", 1, false},             /* lone continuation */
        {"\xc3", 1, false},             /* truncated */
        {"\xe2\x82", 2, false},         /* truncated */
        {"\xf0\x90\x80", 3, false},     /* truncated */
        {"\xe2\x28\xa1", 3, false},     /* bad second byte */
        {"\xe2\x82\x28", 3, false},     /* bad third byte */
        {"\xf0\x90\x28\x80", 4, false}, /* bad third byte */
        {"\xf0\x90\x80\x28", 4, false}, /* bad fourth byte */
        {"12345678\xc3\xa9"
         "12345678",
         18, true}, /* slow path in the middle */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int want = cases[i].ok ? 0 : MQTT_ERR_UTF8;
        assert_int_equal(mqtt_check_utf8(cases[i].s, cases[i].len), want);
        /* The same string as a PUBLISH topic and as a client id. */
        b_reset();
        b_strn(cases[i].s, cases[i].len);
        assert_int_equal(parse_framed(0x30), cases[i].ok ? (int)(2 + blen) : want);
        b_connect_head("MQTT", 4, 0x02);
        b_strn(cases[i].s, cases[i].len);
        assert_int_equal(parse_framed(0x10), cases[i].ok ? (int)(2 + blen) : want);
    }
}

/* ---- SUBSCRIBE, UNSUBSCRIBE, SUBACK violations ---- */

static void test_subscribe_rules(void **state)
{
    (void)state;
    b_reset(); /* packet id 0 */
    b_u16(0);
    b_str("a");
    b_u8(0);
    assert_int_equal(parse_framed(0x82), MQTT_ERR_PACKET_ID);
    b_reset(); /* no pairs */
    b_u16(1);
    assert_int_equal(parse_framed(0x82), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x82, 0x00), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x82, 0x01, 0x00), MQTT_ERR_MALFORMED);
    b_reset(); /* missing QoS byte */
    b_u16(1);
    b_str("a");
    assert_int_equal(parse_framed(0x82), MQTT_ERR_MALFORMED);
    b_reset(); /* filter past the end */
    b_u16(1);
    b_u16(3);
    b_raw("ab", 2);
    assert_int_equal(parse_framed(0x82), MQTT_ERR_MALFORMED);
    b_reset(); /* second pair cut */
    b_u16(1);
    b_str("a");
    b_u8(0);
    b_u8(0);
    assert_int_equal(parse_framed(0x82), MQTT_ERR_MALFORMED);
    for (unsigned q = 3; q < 256; q++) { /* QoS 3 and the reserved bits */
        b_reset();
        b_u16(1);
        b_str("a");
        b_u8(q);
        assert_int_equal(parse_framed(0x82), MQTT_ERR_QOS);
    }
    static const char *const bad[] = {"",   "a#",    "#a",   "a/#/b", "a/b#", "a/#b", "##",  "a+",
                                      "+a", "a/+b/", "a/b+", "++",    "+#",   "#/",   "a/#/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b_reset();
        b_u16(1);
        b_str("ok");
        b_u8(1);
        b_str(bad[i]);
        b_u8(1);
        assert_int_equal(parse_framed(0x82), MQTT_ERR_TOPIC);
        b_reset();
        b_u16(1);
        b_str(bad[i]);
        assert_int_equal(parse_framed(0xA2), MQTT_ERR_TOPIC);
    }
    static const char *const good[] = {"#",      "+",       "+/+",   "/#",        "a/+/b/#",
                                       "$SYS/#", "/",       "//",    "+/",        "/+",
                                       "a//+",   "sport/#", "a b/c", "\xc3\xa9/+"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        b_reset();
        b_u16(1);
        b_str(good[i]);
        b_u8(2);
        assert_int_equal(parse_framed(0x82), (int)(2 + blen));
        b_reset();
        b_u16(1);
        b_str(good[i]);
        assert_int_equal(parse_framed(0xA2), (int)(2 + blen));
    }
    b_reset(); /* filter with bad UTF-8 */
    b_u16(1);
    b_strn("a/\xed\xb0\x80", 5);
    b_u8(0);
    assert_int_equal(parse_framed(0x82), MQTT_ERR_UTF8);
    b_reset();
    b_u16(1);
    b_strn("a\0", 2);
    assert_int_equal(parse_framed(0xA2), MQTT_ERR_UTF8);
}

static void test_unsubscribe_rules(void **state)
{
    (void)state;
    b_reset();
    b_u16(0);
    b_str("a");
    assert_int_equal(parse_framed(0xA2), MQTT_ERR_PACKET_ID);
    b_reset();
    b_u16(1);
    assert_int_equal(parse_framed(0xA2), MQTT_ERR_MALFORMED); /* no filters */
    b_reset();
    b_u16(1);
    b_str("a");
    b_u8(0); /* a QoS byte has no place here: a cut length */
    assert_int_equal(parse_framed(0xA2), MQTT_ERR_MALFORMED);
}

static void test_suback_rules(void **state)
{
    (void)state;
    assert_int_equal(PARSE_BYTES(0x90, 0x03, 0x00, 0x01, 0x03), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x90, 0x03, 0x00, 0x01, 0x81), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x90, 0x04, 0x00, 0x01, 0x00, 0x7F), MQTT_ERR_MALFORMED);
    assert_int_equal(PARSE_BYTES(0x90, 0x02, 0x00, 0x01), MQTT_ERR_MALFORMED); /* empty */
    assert_int_equal(PARSE_BYTES(0x90, 0x03, 0x00, 0x00, 0x00), MQTT_ERR_PACKET_ID);
    assert_int_equal(PARSE_BYTES(0x90, 0x01, 0x00), MQTT_ERR_MALFORMED);
}

static void test_iterators_bounds(void **state)
{
    (void)state;
    /* A position past the list, or a hand-made list cut short, ends the walk. */
    struct mqtt_list l = {.packet_id = 1, .items = BYTES(0x00, 0x03, 'a', 'b'), .items_len = 4};
    size_t pos = 0;
    struct mqtt_str f;
    uint8_t q;
    assert_false(mqtt_subscribe_next(&l, &pos, &f, &q));
    assert_false(mqtt_unsubscribe_next(&l, &pos, &f));
    pos = 99;
    assert_false(mqtt_suback_next(&l, &pos, &q));
    assert_false(mqtt_unsubscribe_next(&l, &pos, &f));
    struct mqtt_list empty = {.packet_id = 1, .items = BYTES(0), .items_len = 0};
    pos = 0;
    assert_false(mqtt_suback_next(&empty, &pos, &q));
    assert_false(mqtt_subscribe_next(&empty, &pos, &f, &q));
}

static void test_strerror(void **state)
{
    (void)state;
    for (int e = MQTT_ERR_TYPE; e <= MQTT_ERR_MALFORMED; e++) {
        const char *s = mqtt_strerror(e);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown MQTT error");
        for (int o = MQTT_ERR_TYPE; o < e; o++)
            assert_string_not_equal(s, mqtt_strerror(o));
    }
    assert_string_equal(mqtt_strerror(-99), "unknown MQTT error");
    assert_non_null(mqtt_strerror(MQTT_INCOMPLETE));
    assert_non_null(mqtt_strerror(5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_connect),
        cmocka_unit_test(test_capture_publish_with_properties),
        cmocka_unit_test(test_capture_publish_other),
        cmocka_unit_test(test_capture_subscribe),
        cmocka_unit_test(test_capture_acks),
        cmocka_unit_test(test_capture_stream),
        cmocka_unit_test(test_connect_all_fields),
        cmocka_unit_test(test_other_types),
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_too_large_from_header),
        cmocka_unit_test(test_remaining_length),
        cmocka_unit_test(test_type_and_flags),
        cmocka_unit_test(test_fixed_sizes),
        cmocka_unit_test(test_connack_rules),
        cmocka_unit_test(test_connect_protocol),
        cmocka_unit_test(test_connect_flags),
        cmocka_unit_test(test_connect_strings),
        cmocka_unit_test(test_connect_lengths),
        cmocka_unit_test(test_publish_rules),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_subscribe_rules),
        cmocka_unit_test(test_unsubscribe_rules),
        cmocka_unit_test(test_suback_rules),
        cmocka_unit_test(test_iterators_bounds),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
