/* The service's cloud-to-device message (spec 5.3) as `iothub c2d send` builds it: encoded
 * with Proton, decoded again, and compared field by field with what Node azure-iothub sends
 * (fixtures/wire/amqps-service-client.txt). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <proton/codec.h>
#include <stdlib.h>
#include <string.h>

#include "c2d_message.h"

/* Encodes msg and decodes the bytes into a new message (what the hub reads). */
static pn_message_t *round_trip(pn_message_t *msg)
{
    char *buf = malloc(1 << 20);
    size_t len = 1 << 20;
    assert_non_null(buf);
    assert_int_equal(pn_message_encode(msg, buf, &len), 0);
    pn_message_t *out = pn_message();
    assert_int_equal(pn_message_decode(out, buf, len), 0);
    free(buf);
    return out;
}

static const char *string_of(pn_data_t *d)
{
    static char buf[256];
    pn_data_rewind(d);
    assert_true(pn_data_next(d));
    assert_int_equal(pn_data_type(d), PN_STRING);
    pn_bytes_t b = pn_data_get_string(d);
    assert_true(b.size < sizeof(buf));
    memcpy(buf, b.start, b.size);
    buf[b.size] = '\0';
    return buf;
}

/* The application property name (rewound map), or NULL when absent. */
static const char *app_prop(pn_message_t *msg, const char *name)
{
    static char buf[256];
    pn_data_t *d = pn_message_properties(msg);
    pn_data_rewind(d);
    if (!pn_data_next(d) || pn_data_type(d) != PN_MAP)
        return NULL;
    size_t n = pn_data_get_map(d);
    pn_data_enter(d);
    for (size_t i = 0; i + 1 < n; i += 2) {
        assert_true(pn_data_next(d));
        pn_bytes_t k = pn_data_get_string(d);
        assert_true(pn_data_next(d));
        if (k.size == strlen(name) && memcmp(k.start, name, k.size) == 0) {
            assert_int_equal(pn_data_type(d), PN_STRING);
            pn_bytes_t v = pn_data_get_string(d);
            memcpy(buf, v.start, v.size);
            buf[v.size] = '\0';
            return buf;
        }
    }
    return NULL;
}

/* The fixture's message: message-id, to, correlation-id, expiry, iothub-ack, one property,
 * a data body. */
static void test_like_node_service_client(void **state)
{
    (void)state;
    char why[256];
    static const char body[] = "{\"command\":\"blink\"}";
    struct c2d_message m = {
        .device_id = "wirecap-device-01",
        .message_id = "c2d-0001",
        .correlation_id = "c2d-corr-0001",
        .ack = "full",
        .expiry_ms = 1893456000000, /* 2030-01-01T00:00:00Z */
        .body = body,
        .body_len = sizeof(body) - 1,
        .props = {{"color", "red"}},
        .nprops = 1,
    };
    pn_message_t *msg = pn_message();
    assert_int_equal(c2d_message_build(&m, msg, why, sizeof(why)), 0);
    pn_message_t *got = round_trip(msg);
    assert_string_equal(string_of(pn_message_id(got)), "c2d-0001");
    assert_string_equal(pn_message_get_address(got),
                        "/devices/wirecap-device-01/messages/devicebound");
    assert_string_equal(string_of(pn_message_correlation_id(got)), "c2d-corr-0001");
    assert_int_equal(pn_message_get_expiry_time(got), 1893456000000);
    assert_null(pn_message_get_content_type(got));
    assert_string_equal(app_prop(got, "iothub-ack"), "full");
    assert_string_equal(app_prop(got, "color"), "red");

    pn_data_t *b = pn_message_body(got);
    pn_data_rewind(b);
    assert_true(pn_data_next(b));
    assert_int_equal(pn_data_type(b), PN_BINARY); /* a data section */
    pn_bytes_t bytes = pn_data_get_binary(b);
    assert_int_equal(bytes.size, sizeof(body) - 1);
    assert_memory_equal(bytes.start, body, bytes.size);
    pn_message_free(got);
    pn_message_free(msg);
}

/* The id is percent-encoded in `to` (encodeURIComponent, as Node); content type and
 * encoding are set; no ack and no properties: no application-properties section. */
static void test_encoded_to_and_system_properties(void **state)
{
    (void)state;
    char why[256];
    struct c2d_message m = {
        .device_id = "a b/c#d$e+f",
        .message_id = "m",
        .content_type = "application/json",
        .content_encoding = "utf-8",
    };
    pn_message_t *msg = pn_message();
    assert_int_equal(c2d_message_build(&m, msg, why, sizeof(why)), 0);
    pn_message_t *got = round_trip(msg);
    assert_string_equal(pn_message_get_address(got),
                        "/devices/a%20b%2Fc%23d%24e%2Bf/messages/devicebound");
    assert_string_equal(pn_message_get_content_type(got), "application/json");
    assert_string_equal(pn_message_get_content_encoding(got), "utf-8");
    assert_int_equal(pn_message_get_expiry_time(got), 0);
    assert_null(app_prop(got, "iothub-ack"));
    pn_data_t *b = pn_message_body(got);
    pn_data_rewind(b);
    assert_true(pn_data_next(b));
    assert_int_equal(pn_data_type(b), PN_BINARY);
    assert_int_equal(pn_data_get_binary(b).size, 0); /* an empty data section */
    pn_message_free(got);
    pn_message_free(msg);
}

static void test_build_refuses(void **state)
{
    (void)state;
    char why[256];
    char long_id[200];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    pn_message_t *msg = pn_message();
    struct c2d_message base = {.device_id = "d", .message_id = "m"};
    struct c2d_message m = base;
    m.device_id = "";
    assert_int_equal(c2d_message_build(&m, msg, why, sizeof(why)), -1);
    m = base;
    m.message_id = long_id;
    assert_int_equal(c2d_message_build(&m, msg, why, sizeof(why)), -1);
    m = base;
    m.ack = "always";
    assert_int_equal(c2d_message_build(&m, msg, why, sizeof(why)), -1);
    m = base;
    m.props[0] = (struct c2d_prop){"k", "1"};
    m.props[1] = (struct c2d_prop){"k", "2"};
    m.nprops = 2;
    assert_int_equal(c2d_message_build(&m, msg, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "'k'"));
    pn_message_free(msg);
}

static void test_prop_parse(void **state)
{
    (void)state;
    char why[256];
    struct c2d_prop p;
    char a[] = "color=red=ish";
    assert_int_equal(c2d_prop_parse(a, &p, why, sizeof(why)), 0);
    assert_string_equal(p.name, "color");
    assert_string_equal(p.value, "red=ish"); /* split at the first '=' */
    char b[] = "empty=";
    assert_int_equal(c2d_prop_parse(b, &p, why, sizeof(why)), 0);
    assert_string_equal(p.value, "");
    char c[] = "novalue", d[] = "=x", e[] = "$.mid=1", f[] = "IoTHub-Ack=full";
    assert_int_equal(c2d_prop_parse(c, &p, why, sizeof(why)), -1);
    assert_int_equal(c2d_prop_parse(d, &p, why, sizeof(why)), -1);
    assert_int_equal(c2d_prop_parse(e, &p, why, sizeof(why)), -1);
    assert_int_equal(c2d_prop_parse(f, &p, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "--ack"));
}

static void test_ack_modes(void **state)
{
    (void)state;
    assert_true(c2d_ack_valid("none"));
    assert_true(c2d_ack_valid("positive"));
    assert_true(c2d_ack_valid("negative"));
    assert_true(c2d_ack_valid("full"));
    assert_false(c2d_ack_valid(""));
    assert_false(c2d_ack_valid("Full"));
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37];
    assert_int_equal(c2d_uuid(a), 0);
    assert_int_equal(c2d_uuid(b), 0);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_true(isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));
    }
    assert_int_equal(a[14], '4');           /* version 4 */
    assert_non_null(strchr("89ab", a[19])); /* RFC 4122 variant */
}

static void test_to_address_fits(void **state)
{
    (void)state;
    char id[129], out[600], small[20];
    memset(id, '#', 128);
    id[128] = '\0';
    assert_int_equal(c2d_to_address(id, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), strlen("/devices//messages/devicebound") + 3 * 128);
    assert_int_equal(c2d_to_address("dev1", small, sizeof(small)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_like_node_service_client),
        cmocka_unit_test(test_encoded_to_and_system_properties),
        cmocka_unit_test(test_build_refuses),
        cmocka_unit_test(test_prop_parse),
        cmocka_unit_test(test_ack_modes),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_to_address_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
