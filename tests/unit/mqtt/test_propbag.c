/* IoT Hub property bags in MQTT topics (spec 2.7, 2.8): percent-decoding with the literal
 * fallback for the C SDK, empty pairs, limits, and encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mqtt/propbag.h"

static struct propbag_entry e[16];
static char scratch[1024];

static int parse(const char *bag, size_t max)
{
    return propbag_parse(bag, strlen(bag), e, max, scratch, sizeof(scratch));
}

static void assert_entry(int i, const char *key, const char *value)
{
    assert_string_equal(e[i].key, key);
    assert_string_equal(e[i].value, value);
}

/* The bag the Node SDK sent in mqtt-d2c (see test_mqtt_parse.c for the whole PUBLISH). */
static void test_node_capture(void **state)
{
    (void)state;
    assert_int_equal(parse("%24.mid=msg-0001&%24.cid=corr-0001&%24.ct=application%2Fjson&"
                           "%24.ce=utf-8&color=red&with%20space=a%20b%26c%3Dd",
                           16),
                     6);
    assert_entry(0, "$.mid", "msg-0001");
    assert_entry(1, "$.cid", "corr-0001");
    assert_entry(2, "$.ct", "application/json");
    assert_entry(3, "$.ce", "utf-8");
    assert_entry(4, "color", "red");
    assert_entry(5, "with space", "a b&c=d");
}

/* The forged C2D bag of mqtt-c2d. */
static void test_c2d_capture(void **state)
{
    (void)state;
    assert_int_equal(parse("%24.mid=c2d-msg-0001&%24.to=%2Fdevices%2Fwirecap-device-01%2Fmessages"
                           "%2FdeviceBound&%24.ct=application%2Fjson&%24.ce=utf-8&%24.cid=c2d-corr-"
                           "0001&iothub-ack=full&color=red",
                           16),
                     7);
    assert_entry(0, "$.mid", "c2d-msg-0001");
    assert_entry(1, "$.to", "/devices/wirecap-device-01/messages/deviceBound");
    assert_entry(4, "$.cid", "c2d-corr-0001");
    assert_entry(5, "iothub-ack", "full");
}

static void test_decoding(void **state)
{
    (void)state;
    assert_int_equal(parse("k=%20%26%3D%25%2b", 16), 1);
    assert_entry(0, "k", " &=%+");
    assert_int_equal(parse("a+b=c+d", 16), 1); /* '+' is not a space */
    assert_entry(0, "a+b", "c+d");
    assert_int_equal(parse("k=a=b", 16), 1); /* the first '=' splits */
    assert_entry(0, "k", "a=b");
    assert_int_equal(parse("%24.mid=%C3%A9", 16), 1);
    assert_entry(0, "$.mid", "\xc3\xa9");
    assert_int_equal(parse("$.ct=text/plain", 16), 1); /* already decoded */
    assert_entry(0, "$.ct", "text/plain");
}

/* The C SDK sends values unencoded: what is not valid percent-encoding is literal. */
static void test_literal_fallback(void **state)
{
    (void)state;
    assert_int_equal(parse("$.ct=application/json&pct=100%&x=50%off", 16), 3);
    assert_entry(0, "$.ct", "application/json");
    assert_entry(1, "pct", "100%");
    assert_entry(2, "x", "50%off");
    assert_int_equal(parse("k=%zz&k%=v&z=%2", 16), 3);
    assert_entry(0, "k", "%zz");
    assert_entry(1, "k%", "v");
    assert_entry(2, "z", "%2");
    assert_int_equal(parse("k=a%00b", 16), 1); /* %00 would cut the string: kept as text */
    assert_entry(0, "k", "a%00b");
    /* Valid encoding elsewhere in a value with a stray '%' is not decoded either. */
    assert_int_equal(parse("k=a%20b%", 16), 1);
    assert_entry(0, "k", "a%20b%");
}

static void test_empty_pairs(void **state)
{
    (void)state;
    assert_int_equal(parse("", 16), 0);
    assert_int_equal(parse("&", 16), 0);
    assert_int_equal(parse("&&&", 16), 0);
    assert_int_equal(parse("a=1&&b=2&", 16), 2);
    assert_entry(0, "a", "1");
    assert_entry(1, "b", "2");
    assert_int_equal(parse("&a=1", 16), 1);
    assert_entry(0, "a", "1");
    /* No '=': the value is empty; an empty value stays empty. */
    assert_int_equal(parse("flag&k=", 16), 2);
    assert_entry(0, "flag", "");
    assert_entry(1, "k", "");
}

static void test_refusals(void **state)
{
    (void)state;
    assert_int_equal(parse("=v", 16), -1); /* empty key */
    assert_int_equal(parse("a=1&=2", 16), -1);
    assert_int_equal(parse("=", 16), -1);
    assert_int_equal(propbag_parse("k=a\0b", 5, e, 16, scratch, sizeof(scratch)), -1);
    assert_int_equal(propbag_parse("k\0=v", 4, e, 16, scratch, sizeof(scratch)), -1);
}

static void test_too_many(void **state)
{
    (void)state;
    assert_int_equal(parse("a=1&b=2&c=3", 3), 3);
    assert_int_equal(parse("a=1&b=2&c=3", 2), -1);
    assert_int_equal(parse("a=1&b=2&&&", 2), 2); /* empty pairs do not count */
    assert_int_equal(parse("a", 0), -1);
    assert_int_equal(propbag_parse("", 0, NULL, 0, scratch, sizeof(scratch)), 0);
}

static void test_scratch_bound(void **state)
{
    (void)state;
    /* len + 2 * entries is always enough; a pair without '=' takes exactly its share. */
    static const char *const bags[] = {"a", "a&b", "k=v", "%24.mid=1&x", "abc=%zz&d"};
    static const int counts[] = {1, 2, 1, 2, 2};
    char small[64];
    for (size_t i = 0; i < sizeof(bags) / sizeof(bags[0]); i++) {
        size_t len = strlen(bags[i]), need = len + 2 * (size_t)counts[i];
        assert_int_equal(propbag_parse(bags[i], len, e, 16, small, need), counts[i]);
    }
    assert_int_equal(propbag_parse("a&b", 3, e, 16, small, 6), 2); /* "a" NUL NUL, twice */
    assert_int_equal(propbag_parse("a&b", 3, e, 16, small, 5), -1);
    assert_int_equal(propbag_parse("ab", 2, e, 16, small, 3), -1); /* needs 4 */
    assert_int_equal(propbag_parse("ab", 2, e, 16, small, 0), -1);
    assert_int_equal(propbag_parse("k=v", 3, e, 16, small, 4), 1); /* 'k' NUL 'v' NUL */
    assert_int_equal(propbag_parse("k=v", 3, e, 16, small, 3), -1);
}

static void test_encode(void **state)
{
    (void)state;
    char out[256];
    struct propbag_entry in[] = {
        {"$.mid", "msg-0001"}, {"$.ct", "application/json"}, {"with space", "a b&c=d"},
        {"flag", ""},          {"u", "\xc3\xa9~*'()!"},
    };
    int n = propbag_encode(in, 5, out, sizeof(out));
    static const char want[] = "%24.mid=msg-0001&%24.ct=application%2Fjson&with%20space=a%20b%26c"
                               "%3Dd&flag=&u=%C3%A9~*'()!";
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(out, want);
    /* Round trip. */
    assert_int_equal(propbag_parse(out, (size_t)n, e, 16, scratch, sizeof(scratch)), 5);
    for (int i = 0; i < 5; i++)
        assert_entry(i, in[i].key, in[i].value);
    /* Every cap below len + 1 fails; len + 1 fits. */
    for (size_t cap = 0; cap <= (size_t)n; cap++)
        assert_int_equal(propbag_encode(in, 5, out, cap), -1);
    assert_int_equal(propbag_encode(in, 5, out, (size_t)n + 1), n);
    /* Nothing to encode. */
    assert_int_equal(propbag_encode(in, 0, out, 1), 0);
    assert_string_equal(out, "");
    assert_int_equal(propbag_encode(in, 0, out, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_capture), cmocka_unit_test(test_c2d_capture),
        cmocka_unit_test(test_decoding),     cmocka_unit_test(test_literal_fallback),
        cmocka_unit_test(test_empty_pairs),  cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_too_many),     cmocka_unit_test(test_scratch_bound),
        cmocka_unit_test(test_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
