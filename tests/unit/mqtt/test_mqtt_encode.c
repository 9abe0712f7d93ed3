/* MQTT 3.1.1 encoders: exact bytes, encode -> parse round trips for every type, the captured
 * packets re-encoded byte for byte, and caps that are too small. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt.h"
#include "mqtt/wire_fixtures.h"

#define MAX (1u << 30)

static uint8_t out[4096];
static uint8_t cap_wire[4096];
static struct mqtt_packet pkt;

#define BYTES(...)         ((const uint8_t[]){__VA_ARGS__})
#define STR(lit)           ((struct mqtt_str){lit, sizeof(lit) - 1})
#define assert_str(s, lit) assert_true((s).len == strlen(lit) && memcmp((s).ptr, lit, (s).len) == 0)

static void assert_same_str(struct mqtt_str a, struct mqtt_str b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.ptr, b.ptr, a.len);
}

/* Parses exactly n bytes of out as one packet. */
static void parse_out(size_t n)
{
    assert_true(n > 0);
    assert_int_equal(mqtt_parse(out, n, MAX, &pkt), (int)n);
}

static void test_exact_bytes(void **state)
{
    (void)state;
    assert_int_equal(mqtt_encode_connack(out, sizeof(out), false, 0), 4);
    assert_memory_equal(out, BYTES(0x20, 0x02, 0x00, 0x00), 4);
    assert_int_equal(mqtt_encode_connack(out, sizeof(out), true, 0), 4);
    assert_memory_equal(out, BYTES(0x20, 0x02, 0x01, 0x00), 4);
    /* MQTT-3.2.2-4: no session present with a refusal */
    assert_int_equal(mqtt_encode_connack(out, sizeof(out), true, MQTT_CONNACK_NOT_AUTHORIZED), 4);
    assert_memory_equal(out, BYTES(0x20, 0x02, 0x00, 0x05), 4);

    assert_int_equal(mqtt_encode_ack(out, sizeof(out), MQTT_PUBACK, 54387), 4);
    assert_memory_equal(out, BYTES(0x40, 0x02, 0xD4, 0x73), 4);
    assert_int_equal(mqtt_encode_ack(out, sizeof(out), MQTT_PUBREC, 1), 4);
    assert_memory_equal(out, BYTES(0x50, 0x02, 0x00, 0x01), 4);
    assert_int_equal(mqtt_encode_ack(out, sizeof(out), MQTT_PUBREL, 0x1234), 4);
    assert_memory_equal(out, BYTES(0x62, 0x02, 0x12, 0x34), 4);
    assert_int_equal(mqtt_encode_ack(out, sizeof(out), MQTT_PUBCOMP, 0xFFFF), 4);
    assert_memory_equal(out, BYTES(0x70, 0x02, 0xFF, 0xFF), 4);
    assert_int_equal(mqtt_encode_ack(out, sizeof(out), MQTT_UNSUBACK, 2), 4);
    assert_memory_equal(out, BYTES(0xB0, 0x02, 0x00, 0x02), 4);

    assert_int_equal(mqtt_encode_empty(out, sizeof(out), MQTT_PINGREQ), 2);
    assert_memory_equal(out, BYTES(0xC0, 0x00), 2);
    assert_int_equal(mqtt_encode_empty(out, sizeof(out), MQTT_PINGRESP), 2);
    assert_memory_equal(out, BYTES(0xD0, 0x00), 2);
    assert_int_equal(mqtt_encode_empty(out, sizeof(out), MQTT_DISCONNECT), 2);
    assert_memory_equal(out, BYTES(0xE0, 0x00), 2);

    size_t n = unhex(CAP_C2D_SUBACK, cap_wire, sizeof(cap_wire));
    assert_int_equal(mqtt_encode_suback(out, sizeof(out), 12668, BYTES(1), 1), n);
    assert_memory_equal(out, cap_wire, n);
}

/* What the SDK sent, rebuilt from the parsed fields, is the same bytes. */
static void test_reencode_captures(void **state)
{
    (void)state;
    static const char *const hex[] = {
        CAP_D2C_CONNECT,    CAP_D2C_PUBLISH_PROPS, CAP_D2C_PUBLISH_BARE, CAP_C2D_PUBLISH,
        CAP_TWIN_GET,       CAP_TWIN_REPORTED,     CAP_METHODS_RESPONSE, CAP_C2D_SUBSCRIBE,
        CAP_TWIN_SUBSCRIBE, CAP_METHODS_SUBSCRIBE, CAP_PUBACK,           CAP_C2D_PUBACK,
        CAP_CONNACK,        CAP_DISCONNECT};
    for (size_t i = 0; i < sizeof(hex) / sizeof(hex[0]); i++) {
        size_t n = unhex(hex[i], cap_wire, sizeof(cap_wire));
        struct mqtt_packet p;
        assert_int_equal(mqtt_parse(cap_wire, n, MAX, &p), (int)n);
        size_t m = 0;
        switch (p.type) {
        case MQTT_CONNECT:
            m = mqtt_encode_connect(out, sizeof(out), &p.u.connect);
            break;
        case MQTT_PUBLISH:
            m = mqtt_encode_publish(out, sizeof(out), &p.u.publish);
            break;
        case MQTT_SUBSCRIBE: {
            struct mqtt_str filters[4];
            uint8_t qos[4];
            size_t count = 0, pos = 0;
            while (mqtt_subscribe_next(&p.u.list, &pos, &filters[count], &qos[count]))
                count++;
            m = mqtt_encode_subscribe(out, sizeof(out), p.u.list.packet_id, filters, qos, count);
            break;
        }
        case MQTT_PUBACK:
            m = mqtt_encode_ack(out, sizeof(out), p.type, p.u.packet_id);
            break;
        case MQTT_CONNACK:
            m = mqtt_encode_connack(out, sizeof(out), p.u.connack.session_present,
                                    p.u.connack.return_code);
            break;
        default:
            m = mqtt_encode_empty(out, sizeof(out), p.type);
            break;
        }
        assert_int_equal(m, n);
        assert_memory_equal(out, cap_wire, n);
    }
}

static void test_round_trip_connect(void **state)
{
    (void)state;
    struct mqtt_connect c = {
        .level = 3, /* not read: always level 4 */
        .clean_session = true,
        .keepalive = 65535,
        .client_id = STR("dev\xc3\xa9"),
        .has_will = true,
        .will_qos = 2,
        .will_retain = true,
        .will_topic = STR("devices/x/will"),
        .will_payload = STR("\x00\x01\xff"),
        .has_username = true,
        .username = STR("localhost/dev/?api-version=2021-04-12"),
        .has_password = true,
        .password = STR("\x00secret\xff"),
    };
    size_t n = mqtt_encode_connect(out, sizeof(out), &c);
    parse_out(n);
    const struct mqtt_connect *d = &pkt.u.connect;
    assert_int_equal(pkt.type, MQTT_CONNECT);
    assert_int_equal(d->level, 4);
    assert_true(d->clean_session);
    assert_int_equal(d->keepalive, 65535);
    assert_same_str(d->client_id, c.client_id);
    assert_true(d->has_will);
    assert_int_equal(d->will_qos, 2);
    assert_true(d->will_retain);
    assert_same_str(d->will_topic, c.will_topic);
    assert_same_str(d->will_payload, c.will_payload);
    assert_true(d->has_username);
    assert_same_str(d->username, c.username);
    assert_true(d->has_password);
    assert_same_str(d->password, c.password);

    /* Without will, will QoS and retain are not sent even when set. */
    struct mqtt_connect bare = {.client_id = STR(""), .will_qos = 1, .will_retain = true};
    n = mqtt_encode_connect(out, sizeof(out), &bare);
    assert_int_equal(n, 14);
    assert_memory_equal(out, BYTES(0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 0, 0, 0), 14);
    parse_out(n);
    assert_false(pkt.u.connect.has_will);
    assert_int_equal(pkt.u.connect.will_qos, 0);
    assert_false(pkt.u.connect.clean_session);
}

static void test_round_trip_publish(void **state)
{
    (void)state;
    static uint8_t payload[300];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    for (unsigned qos = 0; qos <= 2; qos++) {
        for (unsigned bits = 0; bits < 4; bits++) {
            bool dup = bits & 1, retain = bits & 2;
            if (dup && qos == 0)
                continue;
            struct mqtt_publish p = {.dup = dup,
                                     .qos = (uint8_t)qos,
                                     .retain = retain,
                                     .topic = STR("devices/d1/messages/events/%24.mid=1"),
                                     .packet_id = (uint16_t)(qos ? 4242 : 0),
                                     .payload = payload,
                                     .payload_len = sizeof(payload)};
            size_t n = mqtt_encode_publish(out, sizeof(out), &p);
            parse_out(n);
            const struct mqtt_publish *q = &pkt.u.publish;
            assert_int_equal(q->dup, dup);
            assert_int_equal(q->qos, qos);
            assert_int_equal(q->retain, retain);
            assert_same_str(q->topic, p.topic);
            assert_int_equal(q->packet_id, p.packet_id);
            assert_int_equal(q->payload_len, sizeof(payload));
            assert_memory_equal(q->payload, payload, sizeof(payload));

            /* Header, then the payload sent separately: the same bytes. */
            static uint8_t split[4096];
            size_t h = mqtt_encode_publish_header(split, sizeof(split), &p);
            assert_int_equal(h + sizeof(payload), n);
            memcpy(split + h, payload, sizeof(payload));
            assert_memory_equal(split, out, n);
        }
    }
    /* Empty payload, NULL pointer. */
    struct mqtt_publish e = {.topic = STR("t")};
    size_t n = mqtt_encode_publish(out, sizeof(out), &e);
    assert_int_equal(n, 5);
    assert_memory_equal(out, BYTES(0x30, 0x03, 0x00, 0x01, 't'), 5);
    parse_out(n);
    assert_int_equal(pkt.u.publish.payload_len, 0);
}

static void test_round_trip_lists(void **state)
{
    (void)state;
    const struct mqtt_str filters[] = {STR("devices/d1/messages/devicebound/#"),
                                       STR("$iothub/twin/res/#"), STR("+/+/x")};
    const uint8_t qos[] = {1, 0, 2};
    size_t n = mqtt_encode_subscribe(out, sizeof(out), 77, filters, qos, 3);
    parse_out(n);
    assert_int_equal(pkt.type, MQTT_SUBSCRIBE);
    assert_int_equal(pkt.flags, 2);
    assert_int_equal(pkt.u.list.packet_id, 77);
    assert_int_equal(pkt.u.list.count, 3);
    size_t pos = 0, i = 0;
    struct mqtt_str f;
    uint8_t q;
    while (mqtt_subscribe_next(&pkt.u.list, &pos, &f, &q)) {
        assert_same_str(f, filters[i]);
        assert_int_equal(q, qos[i]);
        i++;
    }
    assert_int_equal(i, 3);

    n = mqtt_encode_unsubscribe(out, sizeof(out), 78, filters, 3);
    parse_out(n);
    assert_int_equal(pkt.type, MQTT_UNSUBSCRIBE);
    assert_int_equal(pkt.u.list.packet_id, 78);
    pos = 0;
    i = 0;
    while (mqtt_unsubscribe_next(&pkt.u.list, &pos, &f))
        assert_same_str(f, filters[i++]);
    assert_int_equal(i, 3);

    const uint8_t codes[] = {0, 1, 2, 0x80};
    n = mqtt_encode_suback(out, sizeof(out), 79, codes, 4);
    parse_out(n);
    assert_int_equal(pkt.type, MQTT_SUBACK);
    assert_int_equal(pkt.u.list.packet_id, 79);
    pos = 0;
    i = 0;
    while (mqtt_suback_next(&pkt.u.list, &pos, &q))
        assert_int_equal(q, codes[i++]);
    assert_int_equal(i, 4);
}

static void test_round_trip_small(void **state)
{
    (void)state;
    static const enum mqtt_type acks[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP,
                                          MQTT_UNSUBACK};
    for (size_t i = 0; i < 5; i++) {
        parse_out(mqtt_encode_ack(out, sizeof(out), acks[i], (uint16_t)(i + 1)));
        assert_int_equal(pkt.type, acks[i]);
        assert_int_equal(pkt.u.packet_id, i + 1);
    }
    static const enum mqtt_type empties[] = {MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT};
    for (size_t i = 0; i < 3; i++) {
        parse_out(mqtt_encode_empty(out, sizeof(out), empties[i]));
        assert_int_equal(pkt.type, empties[i]);
    }
    for (uint8_t code = 0; code <= 5; code++) {
        parse_out(mqtt_encode_connack(out, sizeof(out), code == 0, code));
        assert_int_equal(pkt.u.connack.return_code, code);
        assert_int_equal(pkt.u.connack.session_present, code == 0);
    }
}

/* One packet of each kind, encoded into (out, cap). */
static size_t encode_one(int which, uint8_t *buf, size_t cap)
{
    static const struct mqtt_str filters[] = {{"a/+/#", 5}, {"$iothub/twin/res/#", 18}};
    static const uint8_t qos[] = {1, 0};
    static const uint8_t codes[] = {0, 0x80, 2};
    static uint8_t big[200];
    struct mqtt_connect c = {.clean_session = true,
                             .keepalive = 180,
                             .client_id = STR("wirecap-device-01"),
                             .has_will = true,
                             .will_qos = 1,
                             .will_topic = STR("w"),
                             .will_payload = STR("bye"),
                             .has_username = true,
                             .username = STR("localhost/wirecap-device-01/?api-version=2021-04-12"),
                             .has_password = true,
                             .password = STR("SharedAccessSignature sr=x&sig=y&se=1")};
    struct mqtt_publish p = {.qos = 1,
                             .topic = STR("devices/d/messages/events/"),
                             .packet_id = 9,
                             .payload = big,
                             .payload_len = sizeof(big)};
    switch (which) {
    case 0:
        return mqtt_encode_connect(buf, cap, &c);
    case 1:
        return mqtt_encode_connack(buf, cap, false, 0);
    case 2:
        return mqtt_encode_publish(buf, cap, &p);
    case 3:
        return mqtt_encode_publish_header(buf, cap, &p);
    case 4:
        return mqtt_encode_ack(buf, cap, MQTT_PUBREL, 5);
    case 5:
        return mqtt_encode_subscribe(buf, cap, 1, filters, qos, 2);
    case 6:
        return mqtt_encode_suback(buf, cap, 1, codes, 3);
    case 7:
        return mqtt_encode_unsubscribe(buf, cap, 1, filters, 2);
    case 8:
        return mqtt_encode_empty(buf, cap, MQTT_PINGRESP);
    default:
        return 0;
    }
}

static void test_cap_too_small(void **state)
{
    (void)state;
    static uint8_t buf[1024];
    for (int which = 0; which <= 8; which++) {
        size_t full = encode_one(which, out, sizeof(out));
        assert_true(full > 0 && full < sizeof(buf));
        for (size_t cap = 0; cap < full; cap++) {
            memset(buf, 0xA5, sizeof(buf));
            assert_int_equal(encode_one(which, buf, cap), 0);
            for (size_t k = cap; k < sizeof(buf); k++)
                assert_int_equal(buf[k], 0xA5);
        }
        /* Exactly enough room, in a heap block of that size (ASan checks the edge). */
        uint8_t *exact = malloc(full);
        assert_non_null(exact);
        assert_int_equal(encode_one(which, exact, full), full);
        assert_memory_equal(exact, out, full);
        free(exact);
    }
}

static void test_length_boundaries(void **state)
{
    (void)state;
    /* PUBLISH QoS 0 to "t": remaining length = 3 + payload. */
    static const struct {
        size_t rem;
        size_t header;
    } cases[] = {{127, 2}, {128, 3}, {16383, 3}, {16384, 4}, {2097151, 4}, {2097152, 5}};
    size_t big = 2097152 + 5;
    uint8_t *buf = malloc(big);
    uint8_t *payload = calloc(1, big);
    assert_non_null(buf);
    assert_non_null(payload);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mqtt_publish p = {
            .topic = STR("t"), .payload = payload, .payload_len = cases[i].rem - 3};
        size_t n = mqtt_encode_publish(buf, big, &p);
        assert_int_equal(n, cases[i].header + cases[i].rem);
        struct mqtt_packet q;
        assert_int_equal(mqtt_parse(buf, n, MAX, &q), (int)n);
        assert_int_equal(q.u.publish.payload_len, cases[i].rem - 3);
        assert_int_equal(mqtt_encode_publish_header(buf, big, &p), cases[i].header + 3);
    }
    free(buf);
    free(payload);

    /* The largest remaining length, through the header-only encoder (no payload copy). */
    struct mqtt_publish p = {.topic = STR("t"), .payload_len = 268435455 - 3};
    assert_int_equal(mqtt_encode_publish_header(out, sizeof(out), &p), 8);
    assert_memory_equal(out, BYTES(0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 't'), 8);
    p.payload_len++;
    assert_int_equal(mqtt_encode_publish_header(out, sizeof(out), &p), 0);
    p.payload_len = SIZE_MAX;
    assert_int_equal(mqtt_encode_publish_header(out, sizeof(out), &p), 0);
}

static void test_refuses_invalid(void **state)
{
    (void)state;
    static char longstr[65536];
    memset(longstr, 'a', sizeof(longstr));
    const struct mqtt_str too_long = {longstr, 65536}, longest = {longstr, 65535};

    struct mqtt_publish p = {.qos = 3, .topic = STR("t"), .packet_id = 1};
    assert_int_equal(mqtt_encode_publish(out, sizeof(out), &p), 0);
    assert_int_equal(mqtt_encode_publish_header(out, sizeof(out), &p), 0);
    p.qos = 1;
    p.packet_id = 0;
    assert_int_equal(mqtt_encode_publish(out, sizeof(out), &p), 0);
    p = (struct mqtt_publish){.dup = true, .topic = STR("t")};
    assert_int_equal(mqtt_encode_publish(out, sizeof(out), &p), 0);
    p = (struct mqtt_publish){.topic = STR("")};
    assert_int_equal(mqtt_encode_publish(out, sizeof(out), &p), 0);
    p.topic = too_long;
    assert_int_equal(mqtt_encode_publish_header(out, sizeof(out), &p), 0);
    p.topic = longest;
    static uint8_t big[65536 + 8];
    assert_int_equal(mqtt_encode_publish(big, sizeof(big), &p), 4 + 2 + 65535);

    struct mqtt_connect c = {.client_id = too_long};
    assert_int_equal(mqtt_encode_connect(big, sizeof(big), &c), 0);
    c = (struct mqtt_connect){.has_will = true, .will_qos = 3, .will_topic = STR("w")};
    assert_int_equal(mqtt_encode_connect(out, sizeof(out), &c), 0);
    c = (struct mqtt_connect){.has_will = true, .will_topic = STR("")};
    assert_int_equal(mqtt_encode_connect(out, sizeof(out), &c), 0);
    c = (struct mqtt_connect){.has_username = true, .username = too_long};
    assert_int_equal(mqtt_encode_connect(big, sizeof(big), &c), 0);
    c = (struct mqtt_connect){.has_username = true, .has_password = true, .password = too_long};
    assert_int_equal(mqtt_encode_connect(big, sizeof(big), &c), 0);

    assert_int_equal(mqtt_encode_connack(out, sizeof(out), false, 6), 0);
    assert_int_equal(mqtt_encode_ack(out, sizeof(out), MQTT_PUBACK, 0), 0);
    assert_int_equal(mqtt_encode_ack(out, sizeof(out), MQTT_PUBLISH, 1), 0);
    assert_int_equal(mqtt_encode_ack(out, sizeof(out), MQTT_SUBACK, 1), 0);
    assert_int_equal(mqtt_encode_empty(out, sizeof(out), MQTT_CONNECT), 0);
    assert_int_equal(mqtt_encode_empty(out, sizeof(out), MQTT_PUBACK), 0);

    const struct mqtt_str f[] = {STR("a"), STR("")};
    const uint8_t qos[] = {0, 3};
    assert_int_equal(mqtt_encode_subscribe(out, sizeof(out), 1, f, qos, 0), 0);
    assert_int_equal(mqtt_encode_subscribe(out, sizeof(out), 0, f, qos, 1), 0);
    assert_int_equal(mqtt_encode_subscribe(out, sizeof(out), 1, f, NULL, 1), 0);
    assert_int_equal(mqtt_encode_subscribe(out, sizeof(out), 1, f, BYTES(0, 0), 2), 0);
    assert_int_equal(mqtt_encode_subscribe(out, sizeof(out), 1, f, qos, 2), 0);
    assert_int_equal(mqtt_encode_subscribe(out, sizeof(out), 1, &too_long, qos, 1), 0);
    assert_int_equal(mqtt_encode_unsubscribe(out, sizeof(out), 1, f, 0), 0);
    assert_int_equal(mqtt_encode_unsubscribe(out, sizeof(out), 0, f, 1), 0);
    assert_int_equal(mqtt_encode_unsubscribe(out, sizeof(out), 1, f, 2), 0);
    assert_int_equal(mqtt_encode_suback(out, sizeof(out), 1, BYTES(0), 0), 0);
    assert_int_equal(mqtt_encode_suback(out, sizeof(out), 0, BYTES(0), 1), 0);
    assert_int_equal(mqtt_encode_suback(out, sizeof(out), 1, BYTES(3), 1), 0);
    assert_int_equal(mqtt_encode_suback(out, sizeof(out), 1, BYTES(0x81), 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),        cmocka_unit_test(test_reencode_captures),
        cmocka_unit_test(test_round_trip_connect), cmocka_unit_test(test_round_trip_publish),
        cmocka_unit_test(test_round_trip_lists),   cmocka_unit_test(test_round_trip_small),
        cmocka_unit_test(test_cap_too_small),      cmocka_unit_test(test_length_boundaries),
        cmocka_unit_test(test_refuses_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
