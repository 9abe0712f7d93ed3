/* Decoding a service C2D message (spec 5.3) into what the queue stores: id types, every
 * system property, iothub-ack, application property values and their bag encoding (spec
 * 2.8), the body, and each refusal. The bytes of the real Node service client's send (wire
 * fixture amqps-service-client) decode as captured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/amqp/c2d_decode.h"

struct enc {
    char buf[200000];
    size_t len;
};

static void encode(pn_message_t *m, struct enc *e)
{
    e->len = sizeof(e->buf);
    assert_int_equal(pn_message_encode(m, e->buf, &e->len), 0);
}

static pn_message_t *basic(const char *to)
{
    pn_message_t *m = pn_message();
    if (to)
        pn_message_set_address(m, to);
    pn_message_set_inferred(m, true);
    pn_data_put_binary(pn_message_body(m), pn_bytes(5, "hello"));
    return m;
}

static enum c2d_decode_result decode(pn_message_t *m, struct c2d_message *out, char *why)
{
    static struct enc e;
    encode(m, &e);
    pn_message_t *scratch = pn_message();
    enum c2d_decode_result r = amqp_c2d_decode(scratch, e.buf, e.len, out, why, 256);
    pn_message_free(scratch);
    return r;
}

static void put_prop(pn_data_t *p, const char *k)
{
    pn_data_put_string(p, pn_bytes(strlen(k), k));
}

/* The message azure-iothub 1.16.6 sent in the wire capture amqps-service-client (the
 * payload of its C2D transfer, 170 bytes). */
static const char fixture[] =
    "\x00\x53\x70\x45\x00\x53\x73\xd0\x00\x00\x00\x5c\x00\x00\x00\x09\xa1\x08\x63\x32\x64\x2d"
    "\x30\x30\x30\x31\x40\xa1\x2f\x2f\x64\x65\x76\x69\x63\x65\x73\x2f\x77\x69\x72\x65\x63\x61"
    "\x70\x2d\x64\x65\x76\x69\x63\x65\x2d\x30\x31\x2f\x6d\x65\x73\x73\x61\x67\x65\x73\x2f\x64"
    "\x65\x76\x69\x63\x65\x62\x6f\x75\x6e\x64\x40\x40\xa1\x0d\x63\x32\x64\x2d\x63\x6f\x72\x72"
    "\x2d\x30\x30\x30\x31\x40\x40\x83\x00\x00\x01\xb8\xda\xc5\xb4\x00\x00\x53\x74\xd1\x00\x00"
    "\x00\x22\x00\x00\x00\x04\xa1\x0a\x69\x6f\x74\x68\x75\x62\x2d\x61\x63\x6b\xa1\x04\x66\x75"
    "\x6c\x6c\xa1\x05\x63\x6f\x6c\x6f\x72\xa1\x03\x72\x65\x64\x00\x53\x75\xa0\x13\x7b\x22\x63"
    "\x6f\x6d\x6d\x61\x6e\x64\x22\x3a\x22\x62\x6c\x69\x6e\x6b\x22\x7d";

static void test_wire_fixture(void **state)
{
    (void)state;
    struct c2d_message out;
    char why[256] = "";
    pn_message_t *scratch = pn_message();
    assert_int_equal(amqp_c2d_decode(scratch, fixture, sizeof(fixture) - 1, &out, why, sizeof(why)),
                     C2D_DECODE_OK);
    pn_message_free(scratch);
    assert_string_equal(out.device_id, "wirecap-device-01");
    assert_string_equal(out.message_id, "c2d-0001");
    assert_string_equal(out.correlation_id, "c2d-corr-0001");
    assert_true(out.expiry_given);
    assert_int_equal(out.expiry_ms, 1893456000000); /* 2030-01-01T00:00:00Z */
    assert_true(out.ack_given);
    assert_int_equal(out.ack, C2D_ACK_FULL);
    assert_string_equal(out.app_properties, "color=red");
    assert_int_equal(out.body_len, 19);
    assert_memory_equal(out.body, "{\"command\":\"blink\"}", 19);
    c2d_message_free(&out);
}

static void test_every_field(void **state)
{
    (void)state;
    pn_message_t *m = basic("/devices/dev%2B1/messages/devicebound");
    pn_msgid_t id = {.type = PN_UUID};
    memcpy(id.u.as_uuid.bytes, "\x69\xea\x12\x34\x56\x78\x4a\xbc\x8d\xef\x01\x23\x45\x67\x89\xab",
           16);
    pn_message_set_id(m, id);
    pn_msgid_t cid = {.type = PN_ULONG, .u.as_ulong = 18446744073709551615ULL};
    pn_message_set_correlation_id(m, cid);
    pn_message_set_user_id(m, pn_bytes(3, "ops"));
    pn_message_set_content_type(m, "application/json");
    pn_message_set_content_encoding(m, "utf-8");
    pn_message_set_expiry_time(m, 1893456000000);
    pn_data_t *p = pn_message_properties(m);
    pn_data_put_map(p);
    pn_data_enter(p);
    put_prop(p, "iothub-ack");
    put_prop(p, "Full");
    put_prop(p, "color");
    put_prop(p, "red");
    put_prop(p, "a b/c");
    put_prop(p, "x&y=z%\xc3\xbc");
    put_prop(p, "n");
    pn_data_put_int(p, -42);
    put_prop(p, "flag");
    pn_data_put_bool(p, true);
    put_prop(p, "nothing");
    pn_data_put_null(p);
    put_prop(p, "empty");
    put_prop(p, "");
    pn_data_exit(p);
    struct c2d_message out;
    char why[256] = "";
    assert_int_equal(decode(m, &out, why), C2D_DECODE_OK);
    assert_string_equal(out.device_id, "dev+1");
    assert_string_equal(out.message_id, "69ea1234-5678-4abc-8def-0123456789ab");
    assert_string_equal(out.correlation_id, "18446744073709551615");
    assert_string_equal(out.user_id, "ops");
    assert_string_equal(out.content_type, "application/json");
    assert_string_equal(out.content_encoding, "utf-8");
    assert_true(out.expiry_given);
    assert_int_equal(out.expiry_ms, 1893456000000);
    assert_true(out.ack_given);
    assert_int_equal(out.ack, C2D_ACK_FULL);
    assert_string_equal(out.app_properties,
                        "color=red&a%20b%2Fc=x%26y%3Dz%25%C3%BC&n=-42&flag=true&nothing&empty=");
    assert_int_equal(out.body_len, 5);
    assert_memory_equal(out.body, "hello", 5);
    c2d_message_free(&out);
    pn_message_free(m);
}

static void test_minimal_and_id_types(void **state)
{
    (void)state;
    pn_message_t *m = basic("amqps://h/Devices/d1/Messages/DeviceBound");
    pn_msgid_t id = {.type = PN_BINARY};
    id.u.as_bytes = pn_bytes(4, "b-id");
    pn_message_set_id(m, id);
    struct c2d_message out;
    char why[256] = "";
    assert_int_equal(decode(m, &out, why), C2D_DECODE_OK);
    assert_string_equal(out.device_id, "d1");
    assert_string_equal(out.message_id, "b-id");
    assert_null(out.correlation_id);
    assert_null(out.user_id);
    assert_null(out.content_type);
    assert_false(out.ack_given);
    assert_false(out.expiry_given);
    assert_string_equal(out.app_properties, "");
    c2d_message_free(&out);
    pn_message_free(m);

    /* An AMQP value string body is accepted as its UTF-8 bytes; no body is empty. */
    m = pn_message();
    pn_message_set_address(m, "/devices/d1/messages/devicebound");
    pn_data_put_string(pn_message_body(m), pn_bytes(2, "hi"));
    assert_int_equal(decode(m, &out, why), C2D_DECODE_OK);
    assert_int_equal(out.body_len, 2);
    c2d_message_free(&out);
    pn_message_free(m);
    m = pn_message();
    pn_message_set_address(m, "/devices/d1/messages/devicebound");
    assert_int_equal(decode(m, &out, why), C2D_DECODE_OK);
    assert_int_equal(out.body_len, 0);
    c2d_message_free(&out);
    pn_message_free(m);
}

static void expect_invalid(pn_message_t *m, enum c2d_decode_result want, const char *needle)
{
    struct c2d_message out;
    char why[256] = "";
    assert_int_equal(decode(m, &out, why), want);
    assert_non_null(strstr(why, needle));
    assert_null(out.message_id);
    assert_null(out.body);
    pn_message_free(m);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_invalid(basic(NULL), C2D_DECODE_INVALID, "properties.to");
    expect_invalid(basic("/devices/d1/messages/events"), C2D_DECODE_INVALID, "properties.to");
    expect_invalid(basic("/devices/d/modules/m/messages/devicebound"), C2D_DECODE_INVALID,
                   "modules");

    pn_message_t *m = basic("/devices/d1/messages/devicebound");
    pn_data_t *p = pn_message_properties(m);
    pn_data_put_map(p);
    pn_data_enter(p);
    put_prop(p, "iothub-ack");
    put_prop(p, "sometimes");
    pn_data_exit(p);
    expect_invalid(m, C2D_DECODE_INVALID, "iothub-ack");

    m = basic("/devices/d1/messages/devicebound");
    p = pn_message_properties(m);
    pn_data_put_map(p);
    pn_data_enter(p);
    put_prop(p, "list");
    pn_data_put_list(p);
    pn_data_exit(p);
    expect_invalid(m, C2D_DECODE_INVALID, "application property 'list'");

    m = basic("/devices/d1/messages/devicebound");
    char long_id[C2D_ID_MAX + 2];
    memset(long_id, 'i', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    pn_msgid_t id = {.type = PN_STRING};
    id.u.as_bytes = pn_bytes(strlen(long_id), long_id);
    pn_message_set_id(m, id);
    expect_invalid(m, C2D_DECODE_INVALID, "message-id");

    m = basic("/devices/d1/messages/devicebound");
    pn_message_set_user_id(m, pn_bytes(3, "a\nb"));
    expect_invalid(m, C2D_DECODE_INVALID, "user-id");

    m = pn_message();
    pn_message_set_address(m, "/devices/d1/messages/devicebound");
    pn_message_set_inferred(m, true);
    static char big[C2D_BODY_MAX + 1];
    pn_data_put_binary(pn_message_body(m), pn_bytes(sizeof(big), big));
    expect_invalid(m, C2D_DECODE_TOO_LARGE, "limited to 65536");

    struct c2d_message out;
    char why[256] = "";
    pn_message_t *scratch = pn_message();
    assert_int_equal(amqp_c2d_decode(scratch, "\x00\x53", 2, &out, why, sizeof(why)),
                     C2D_DECODE_INVALID);
    assert_int_equal(amqp_c2d_decode(scratch, "", 0, &out, why, sizeof(why)), C2D_DECODE_INVALID);
    pn_message_free(scratch);
}

static void test_bag_append(void **state)
{
    (void)state;
    char *bag = NULL;
    size_t len = 0, cap = 0;
    assert_int_equal(c2d_bag_append(&bag, &len, &cap, 1000, "$.to", 4, "/devices/a b", 12), 0);
    assert_int_equal(c2d_bag_append(&bag, &len, &cap, 1000, "k~._-", 5, NULL, 0), 0);
    assert_string_equal(bag, "%24.to=%2Fdevices%2Fa%20b&k~._-");
    assert_int_equal(c2d_bag_append(&bag, &len, &cap, 40, "long", 4, "vvvvvvvvvv", 10), -1);
    free(bag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_fixture),         cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_minimal_and_id_types), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_bag_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
