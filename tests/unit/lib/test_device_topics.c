/* libiothub: the parsers of what the hub publishes to a device (lib/device_topics.c):
 * topic families, method names and request ids, twin statuses, and C2D property bags
 * decoded into messages (fixtures: ../shared/fixtures/wire/mqtt-*.txt beside the repo). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device_topics.h"
#include "internal.h"

static int parse(const char *topic, const char *device_id, struct iotlib_inbound *in)
{
    return iotlib_inbound_parse(topic, strlen(topic), device_id, in);
}

static void assert_span(struct iotlib_span s, const char *expected)
{
    assert_int_equal(s.len, strlen(expected));
    assert_memory_equal(s.ptr, expected, s.len);
}

static void test_method_topics(void **state)
{
    (void)state;
    struct iotlib_inbound in;
    /* mqtt-methods fixture */
    assert_int_equal(parse("$iothub/methods/POST/reboot/?$rid=1", "d", &in), 0);
    assert_int_equal(in.kind, IOTLIB_INBOUND_METHOD);
    assert_span(in.name, "reboot");
    assert_span(in.rid, "1");
    /* uuid-like ids, extra query parameters */
    assert_int_equal(parse("$iothub/methods/POST/get-Status_2/?$rid=ab12-CD&x=1", "d", &in), 0);
    assert_span(in.name, "get-Status_2");
    assert_span(in.rid, "ab12-CD");
    assert_int_equal(parse("$iothub/methods/POST/m/?x=1&$rid=7", "d", &in), 0);
    assert_span(in.rid, "7");

    const char *bad[] = {
        "$iothub/methods/POST/",                 /* no name */
        "$iothub/methods/POST//?$rid=1",         /* empty name */
        "$iothub/methods/POST/reboot",           /* no rid */
        "$iothub/methods/POST/reboot/",          /* no query */
        "$iothub/methods/POST/reboot/?$rid=",    /* empty rid */
        "$iothub/methods/POST/reboot/?rid=1",    /* not $rid */
        "$iothub/methods/POST/reboot/?$rid=a b", /* space: cannot be echoed */
        "$iothub/methods/POST/reboot/?$rid=a+b", /* wildcard in a PUBLISH topic */
        "$iothub/methods/POST/reboot/$rid=1",    /* no '?' */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], "d", &in), IOTHUB_EPROTOCOL);
        assert_int_equal(in.kind, IOTLIB_INBOUND_METHOD);
    }
    /* A NUL byte in the name (the callback gets a C string); found by the fuzzer. */
    static const char nul_name[] = "$iothub/methods/POST/re\0boot/?$rid=1";
    assert_int_equal(iotlib_inbound_parse(nul_name, sizeof(nul_name) - 1, "d", &in),
                     IOTHUB_EPROTOCOL);
    char longname[IOTLIB_METHOD_NAME_MAX + 64];
    memcpy(longname, "$iothub/methods/POST/", 21);
    memset(longname + 21, 'm', IOTLIB_METHOD_NAME_MAX + 1);
    strcpy(longname + 21 + IOTLIB_METHOD_NAME_MAX + 1, "/?$rid=1");
    assert_int_equal(parse(longname, "d", &in), IOTHUB_EPROTOCOL);
}

static void test_twin_topics(void **state)
{
    (void)state;
    struct iotlib_inbound in;
    /* mqtt-twin fixture */
    assert_int_equal(
        parse("$iothub/twin/res/200/?$rid=1e2fe072-e75e-4248-96be-8afa1bb7190d", "d", &in), 0);
    assert_int_equal(in.kind, IOTLIB_INBOUND_TWIN_RESPONSE);
    assert_int_equal(in.status, 200);
    assert_span(in.rid, "1e2fe072-e75e-4248-96be-8afa1bb7190d");
    assert_int_equal(parse("$iothub/twin/res/204/?$rid=42&$version=3", "d", &in), 0);
    assert_int_equal(in.status, 204);
    assert_span(in.rid, "42");
    uint32_t rid = 0;
    assert_true(iotlib_rid_to_u32(in.rid, &rid));
    assert_int_equal(rid, 42);
    assert_int_equal(parse("$iothub/twin/res/429/?$rid=9", "d", &in), 0);
    assert_int_equal(in.status, 429);

    assert_int_equal(parse("$iothub/twin/PATCH/properties/desired/?$version=3", "d", &in), 0);
    assert_int_equal(in.kind, IOTLIB_INBOUND_TWIN_DESIRED);
    assert_int_equal(parse("$iothub/twin/PATCH/properties/desired", "d", &in), 0);
    assert_int_equal(in.kind, IOTLIB_INBOUND_TWIN_DESIRED);
    assert_int_equal(parse("$iothub/twin/PATCH/properties/desiredX", "d", &in), 0);
    assert_int_equal(in.kind, IOTLIB_INBOUND_UNKNOWN);

    const char *bad[] = {
        "$iothub/twin/res/",           "$iothub/twin/res/2000/?$rid=1",
        "$iothub/twin/res/ok/?$rid=1", "$iothub/twin/res/200",
        "$iothub/twin/res/200/?$rid=", "$iothub/twin/res/200/?$version=1",
        "$iothub/twin/res/-1/?$rid=1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], "d", &in), IOTHUB_EPROTOCOL);

    struct iotlib_span s = {"4294967295", 10};
    assert_true(iotlib_rid_to_u32(s, &rid));
    assert_int_equal(rid, UINT32_MAX);
    struct iotlib_span over = {"4294967296", 10}, uuid = {"1e2f", 4}, empty = {"", 0};
    assert_false(iotlib_rid_to_u32(over, &rid));
    assert_false(iotlib_rid_to_u32(uuid, &rid));
    assert_false(iotlib_rid_to_u32(empty, &rid));
}

static void test_c2d_topics(void **state)
{
    (void)state;
    struct iotlib_inbound in;
    assert_int_equal(parse("devices/dev1/messages/devicebound/%24.to=x&a=b", "dev1", &in), 0);
    assert_int_equal(in.kind, IOTLIB_INBOUND_C2D);
    assert_span(in.bag, "%24.to=x&a=b");
    assert_int_equal(parse("devices/dev1/messages/devicebound/", "dev1", &in), 0);
    assert_int_equal(in.kind, IOTLIB_INBOUND_C2D);
    assert_int_equal(in.bag.len, 0);
    assert_int_equal(parse("devices/dev1/messages/devicebound", "dev1", &in), 0);
    assert_int_equal(in.kind, IOTLIB_INBOUND_C2D);
    assert_int_equal(in.bag.len, 0);
    /* another device's topic, a longer id, another segment: not ours */
    const char *other[] = {
        "devices/dev2/messages/devicebound/a=b",
        "devices/dev10/messages/devicebound/a=b",
        "devices/dev1/messages/deviceboundX",
        "devices/dev1/messages/events/a=b",
        "devices/dev1",
        "$iothub/other",
        "",
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        assert_int_equal(parse(other[i], "dev1", &in), 0);
        assert_int_equal(in.kind, IOTLIB_INBOUND_UNKNOWN);
    }
}

static void test_c2d_decode_fixture(void **state)
{
    (void)state;
    /* mqtt-c2d fixture: what the real hub sends */
    const char *bag = "%24.mid=c2d-msg-0001&%24.to=%2Fdevices%2Fwirecap-device-01%2Fmessages%"
                      "2FdeviceBound&%24.ct=application%2Fjson&%24.ce=utf-8&%24.cid=c2d-corr-"
                      "0001&iothub-ack=full&color=red";
    const char *body = "{\"c2d\":\"hello from fake hub\"}";
    iothub_message_t *m = NULL;
    assert_int_equal(
        iotlib_c2d_message_decode(bag, strlen(bag), (const uint8_t *)body, strlen(body), &m), 0);
    assert_int_equal(iothub_message_get_kind(m), IOTHUB_MESSAGE_BYTES);
    const uint8_t *b;
    size_t len;
    assert_int_equal(iothub_message_get_body(m, &b, &len), 0);
    assert_int_equal(len, strlen(body));
    assert_memory_equal(b, body, len);
    assert_string_equal(iothub_message_get_message_id(m), "c2d-msg-0001");
    assert_string_equal(iothub_message_get_correlation_id(m), "c2d-corr-0001");
    assert_string_equal(iothub_message_get_content_type(m), "application/json");
    assert_string_equal(iothub_message_get_content_encoding(m), "utf-8");
    assert_string_equal(iothub_message_get_to(m),
                        "/devices/wirecap-device-01/messages/deviceBound");
    assert_string_equal(iothub_message_get_ack(m), "full");
    assert_null(iothub_message_get_user_id(m));
    assert_null(iothub_message_get_expiry_time_utc(m));
    assert_int_equal(iothub_message_property_count(m), 1);
    assert_string_equal(iothub_message_property_get(m, "color"), "red");

    /* the clone keeps the C2D system properties */
    iothub_message_t *copy = NULL;
    assert_int_equal(iothub_message_clone(&copy, m), 0);
    assert_string_equal(iothub_message_get_ack(copy), "full");
    assert_string_equal(iothub_message_get_to(copy), iothub_message_get_to(m));
    iothub_message_destroy(copy);
    iothub_message_destroy(m);
}

static void test_c2d_decode_rules(void **state)
{
    (void)state;
    iothub_message_t *m = NULL;
    /* raw (C SDK style) values, unknown $ keys, duplicates (last wins), bare keys, encoded
     * keys and values, uid and exp */
    const char *bag = "%24.uid=user%201&%24.exp=2026-11-26T10%3A00%3A00.000Z&%24.ct=text/plain&"
                      "%24.cdid=x&%24.ctime=y&a=1&a=2&flag&sp%20ace=%C3%A9t%C3%A9&pct=100%";
    assert_int_equal(iotlib_c2d_message_decode(bag, strlen(bag), NULL, 0, &m), 0);
    assert_string_equal(iothub_message_get_user_id(m), "user 1");
    assert_string_equal(iothub_message_get_expiry_time_utc(m), "2026-11-26T10:00:00.000Z");
    assert_string_equal(iothub_message_get_content_type(m), "text/plain");
    assert_null(iothub_message_get_message_id(m));
    assert_string_equal(iothub_message_property_get(m, "a"), "2");
    assert_string_equal(iothub_message_property_get(m, "flag"), "");
    assert_string_equal(iothub_message_property_get(m, "sp ace"), "\xc3\xa9t\xc3\xa9");
    assert_string_equal(iothub_message_property_get(m, "pct"), "100%");
    assert_null(iothub_message_property_get(m, "$.cdid"));
    assert_int_equal(iothub_message_property_count(m), 4);
    const uint8_t *b;
    size_t len;
    assert_int_equal(iothub_message_get_body(m, &b, &len), 0);
    assert_int_equal(len, 0);
    iothub_message_destroy(m);

    /* empty bag */
    assert_int_equal(iotlib_c2d_message_decode("", 0, (const uint8_t *)"x", 1, &m), 0);
    assert_int_equal(iothub_message_property_count(m), 0);
    iothub_message_destroy(m);

    /* values the message API refuses are dropped, not fatal: invalid UTF-8 */
    const char *latin1 = "a=%E9&b=ok";
    assert_int_equal(iotlib_c2d_message_decode(latin1, strlen(latin1), NULL, 0, &m), 0);
    assert_null(iothub_message_property_get(m, "a"));
    assert_string_equal(iothub_message_property_get(m, "b"), "ok");
    iothub_message_destroy(m);

    /* an escape that would decode to NUL is taken literally */
    assert_int_equal(iotlib_c2d_message_decode("a=%00", 5, NULL, 0, &m), 0);
    assert_string_equal(iothub_message_property_get(m, "a"), "%00");
    iothub_message_destroy(m);

    /* malformed bags: empty key, a raw NUL byte */
    m = NULL;
    assert_int_equal(iotlib_c2d_message_decode("=v", 2, NULL, 0, &m), IOTHUB_EPROTOCOL);
    assert_null(m);
    assert_int_equal(iotlib_c2d_message_decode("a=\0b", 4, NULL, 0, &m), IOTHUB_EPROTOCOL);
    assert_null(m);

    /* too many pairs */
    size_t pairs = IOTHUB_MESSAGE_MAX_PROPERTIES + 9;
    char *big = malloc(pairs * 16);
    assert_non_null(big);
    size_t off = 0;
    for (size_t i = 0; i < pairs; i++)
        off += (size_t)sprintf(big + off, "%sk%zu=v", i ? "&" : "", i);
    assert_int_equal(iotlib_c2d_message_decode(big, off, NULL, 0, &m), IOTHUB_EPROTOCOL);
    free(big);

    /* body limit */
    uint8_t *body = calloc(1, IOTHUB_MESSAGE_MAX_SIZE + 1);
    assert_non_null(body);
    assert_int_equal(iotlib_c2d_message_decode("", 0, body, IOTHUB_MESSAGE_MAX_SIZE + 1, &m),
                     IOTHUB_ETOOBIG);
    free(body);
}

static void test_ll_callbacks_without_hub(void **state)
{
    (void)state;
    iothub_device_client_ll_t *c;
    assert_int_equal(iothub_device_client_ll_create_with_key(
                         &c, "127.0.0.1", "dev1",
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", IOTHUB_TRANSPORT_MQTT),
                     0);
    assert_int_equal(iothub_device_client_ll_set_message_callback(NULL, NULL, NULL), IOTHUB_EINVAL);
    assert_int_equal(iothub_device_client_ll_set_message_callback(c, NULL, NULL), 0);
    assert_int_equal(iothub_device_client_ll_set_device_method_callback(c, NULL, NULL), 0);
    assert_int_equal(iothub_device_client_ll_set_device_twin_callback(c, NULL, NULL), 0);
    const char *notobj[] = {"[1]", "\"s\"", "{", "{\"a\":1} x", "null"};
    for (size_t i = 0; i < sizeof(notobj) / sizeof(notobj[0]); i++)
        assert_int_equal(iothub_device_client_ll_send_reported_state(c, (const uint8_t *)notobj[i],
                                                                     strlen(notobj[i]), NULL, NULL),
                         IOTHUB_EINVAL);
    assert_int_equal(
        iothub_device_client_ll_send_reported_state(c, (const uint8_t *)"{}", 0, NULL, NULL),
        IOTHUB_EINVAL);
    iothub_device_client_ll_destroy(c);
}

static int reported_status[4];
static int reported_calls;

static void on_reported(int status, void *ctx)
{
    reported_status[(intptr_t)ctx] = status;
    reported_calls++;
}

/* Every accepted reported state ends in exactly one callback: 408 at destroy, 500 when the
 * retry policy gave up. */
static void test_reported_state_guarantee(void **state)
{
    (void)state;
    iothub_device_client_ll_t *c;
    /* 127.0.0.1 port 8883: either nothing listens (refused) or something that is not
     * trusted (TLS fails: no CA configured for it). */
    assert_int_equal(iothub_device_client_ll_create_with_key(
                         &c, "127.0.0.1", "dev1",
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", IOTHUB_TRANSPORT_MQTT),
                     0);
    assert_int_equal(iothub_device_client_ll_set_retry_policy(c, IOTHUB_RETRY_NONE, 0), 0);
    const char *patch = "{\"firmware\":\"1.2.3\",\"battery\":{\"level\":87}}";
    reported_calls = 0;
    assert_int_equal(iothub_device_client_ll_send_reported_state(
                         c, (const uint8_t *)patch, strlen(patch), on_reported, (void *)0),
                     0);
    for (int i = 0; i < 2000 && reported_calls == 0; i++) {
        iothub_device_client_ll_do_work(c);
        int fd, timeout;
        bool want_write;
        iothub_device_client_ll_get_poll(c, &fd, &want_write, &timeout);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(reported_calls, 1);
    assert_int_equal(reported_status[0], 500);

    assert_int_equal(iothub_device_client_ll_send_reported_state(
                         c, (const uint8_t *)patch, strlen(patch), on_reported, (void *)1),
                     0);
    iothub_device_client_ll_destroy(c);
    assert_int_equal(reported_calls, 2);
    assert_int_equal(reported_status[1], 408);
}

/* The threaded client: the 408 of a request pending at destroy runs before destroy returns;
 * callbacks set and cleared from another thread while the worker runs. */
static void test_threaded_reported_state_at_destroy(void **state)
{
    (void)state;
    iothub_device_client_t *c;
    assert_int_equal(iothub_device_client_create_with_key(
                         &c, "127.0.0.1", "dev1",
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", IOTHUB_TRANSPORT_MQTT),
                     0);
    assert_int_equal(iothub_device_client_set_retry_policy(c, IOTHUB_RETRY_INTERVAL, 0), 0);
    assert_int_equal(iothub_device_client_set_device_twin_callback(c, NULL, NULL), 0);
    assert_int_equal(iothub_device_client_set_message_callback(c, NULL, NULL), 0);
    assert_int_equal(iothub_device_client_send_reported_state(c, (const uint8_t *)"[]", 2,
                                                              on_reported, (void *)2),
                     IOTHUB_EINVAL);
    reported_calls = 0;
    assert_int_equal(iothub_device_client_send_reported_state(c, (const uint8_t *)"{\"a\":null}",
                                                              10, on_reported, (void *)3),
                     0);
    iothub_device_client_destroy(c);
    assert_int_equal(reported_calls, 1);
    assert_int_equal(reported_status[3], 408);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_topics),
        cmocka_unit_test(test_twin_topics),
        cmocka_unit_test(test_c2d_topics),
        cmocka_unit_test(test_c2d_decode_fixture),
        cmocka_unit_test(test_c2d_decode_rules),
        cmocka_unit_test(test_ll_callbacks_without_hub),
        cmocka_unit_test(test_reported_state_guarantee),
        cmocka_unit_test(test_threaded_reported_state_at_destroy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
