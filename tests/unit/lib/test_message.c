/* libiothub messages: body, system properties, application properties, the property bag. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "iothub/iothub.h"

static void test_string_and_bytes_bodies(void **state)
{
    (void)state;
    iothub_message_t *m = NULL;
    assert_int_equal(iothub_message_create_from_string(&m, "{\"windSpeed\": 12.5}"), 0);
    assert_int_equal(iothub_message_get_kind(m), IOTHUB_MESSAGE_STRING);
    assert_string_equal(iothub_message_get_string(m), "{\"windSpeed\": 12.5}");
    const uint8_t *body;
    size_t len;
    assert_int_equal(iothub_message_get_body(m, &body, &len), 0);
    assert_int_equal(len, 19);
    iothub_message_destroy(m);

    const uint8_t bytes[] = {0, 1, 2, 0xff};
    assert_int_equal(iothub_message_create_from_bytes(&m, bytes, sizeof(bytes)), 0);
    assert_int_equal(iothub_message_get_kind(m), IOTHUB_MESSAGE_BYTES);
    assert_null(iothub_message_get_string(m));
    assert_int_equal(iothub_message_get_body(m, &body, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(body, bytes, 4);
    iothub_message_destroy(m);

    assert_int_equal(iothub_message_create_from_bytes(&m, NULL, 0), 0);
    iothub_message_destroy(m);
    assert_int_equal(iothub_message_create_from_bytes(&m, NULL, 3), IOTHUB_EINVAL);
    assert_int_equal(iothub_message_create_from_string(&m, NULL), IOTHUB_EINVAL);
    assert_int_equal(iothub_message_create_from_string(NULL, "x"), IOTHUB_EINVAL);
    iothub_message_destroy(NULL);
}

static void test_system_properties(void **state)
{
    (void)state;
    iothub_message_t *m = NULL;
    assert_int_equal(iothub_message_create_from_string(&m, "x"), 0);
    assert_null(iothub_message_get_message_id(m));
    assert_int_equal(iothub_message_set_message_id(m, "message_1"), 0);
    assert_int_equal(iothub_message_set_correlation_id(m, "correlation_1"), 0);
    assert_int_equal(iothub_message_set_content_type(m, "application/json"), 0);
    assert_int_equal(iothub_message_set_content_encoding(m, "utf-8"), 0);
    assert_string_equal(iothub_message_get_message_id(m), "message_1");
    assert_string_equal(iothub_message_get_correlation_id(m), "correlation_1");
    assert_string_equal(iothub_message_get_content_type(m), "application/json");
    assert_string_equal(iothub_message_get_content_encoding(m), "utf-8");
    assert_int_equal(iothub_message_set_message_id(m, "message_2"), 0);
    assert_string_equal(iothub_message_get_message_id(m), "message_2");
    assert_int_equal(iothub_message_set_message_id(m, NULL), 0);
    assert_null(iothub_message_get_message_id(m));
    assert_int_equal(iothub_message_set_message_id(m, ""), IOTHUB_EINVAL);
    assert_int_equal(iothub_message_set_message_id(m, "\xff\xfe"), IOTHUB_EINVAL);
    char big[1100];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(iothub_message_set_correlation_id(m, big), IOTHUB_ETOOBIG);
    assert_string_equal(iothub_message_get_correlation_id(m), "correlation_1");
    iothub_message_destroy(m);
}

static void test_application_properties(void **state)
{
    (void)state;
    iothub_message_t *m = NULL;
    assert_int_equal(iothub_message_create_from_string(&m, "x"), 0);
    assert_int_equal(iothub_message_property_count(m), 0);
    assert_int_equal(iothub_message_property_add(m, "Property", "PropMsg_0"), 0);
    assert_int_equal(iothub_message_property_add(m, "b", "2"), 0);
    assert_int_equal(iothub_message_property_add(m, "Property", "other"), IOTHUB_EEXIST);
    assert_string_equal(iothub_message_property_get(m, "Property"), "PropMsg_0");
    assert_int_equal(iothub_message_property_set(m, "Property", "PropMsg_1"), 0);
    assert_string_equal(iothub_message_property_get(m, "Property"), "PropMsg_1");
    assert_int_equal(iothub_message_property_set(m, "c", ""), 0);
    assert_null(iothub_message_property_get(m, "missing"));
    assert_int_equal(iothub_message_property_count(m), 3);

    const char *k, *v;
    const char *keys[] = {"Property", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(iothub_message_property_at(m, i, &k, &v), 0);
        assert_string_equal(k, keys[i]);
    }
    assert_int_equal(iothub_message_property_at(m, 3, &k, &v), IOTHUB_EINVAL);

    assert_int_equal(iothub_message_property_remove(m, "b"), 0);
    assert_int_equal(iothub_message_property_remove(m, "b"), IOTHUB_ENOTFOUND);
    assert_int_equal(iothub_message_property_at(m, 1, &k, &v), 0);
    assert_string_equal(k, "c");

    /* Reserved and invalid keys. */
    assert_int_equal(iothub_message_property_add(m, "", "x"), IOTHUB_EINVAL);
    assert_int_equal(iothub_message_property_add(m, "$.mid", "x"), IOTHUB_EINVAL);
    assert_int_equal(iothub_message_property_add(m, "k", "\xc0\xaf"), IOTHUB_EINVAL);
    assert_int_equal(iothub_message_property_add(m, NULL, "x"), IOTHUB_EINVAL);
    iothub_message_destroy(m);
}

static void test_property_limit(void **state)
{
    (void)state;
    iothub_message_t *m = NULL;
    assert_int_equal(iothub_message_create_from_string(&m, "x"), 0);
    char key[16];
    for (int i = 0; i < IOTHUB_MESSAGE_MAX_PROPERTIES; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(iothub_message_property_add(m, key, "v"), 0);
    }
    assert_int_equal(iothub_message_property_add(m, "one-more", "v"), IOTHUB_ETOOBIG);
    assert_int_equal(iothub_message_property_set(m, "k0", "replaced"), 0);
    assert_int_equal(iothub_message_property_count(m), IOTHUB_MESSAGE_MAX_PROPERTIES);
    iothub_message_destroy(m);
}

static void test_clone_is_deep(void **state)
{
    (void)state;
    iothub_message_t *m = NULL, *c = NULL;
    const uint8_t bytes[] = {'h', 'i'};
    assert_int_equal(iothub_message_create_from_bytes(&m, bytes, 2), 0);
    assert_int_equal(iothub_message_set_message_id(m, "m1"), 0);
    assert_int_equal(iothub_message_property_add(m, "a", "1"), 0);
    assert_int_equal(iothub_message_clone(&c, m), 0);
    assert_int_equal(iothub_message_set_message_id(m, "changed"), 0);
    assert_int_equal(iothub_message_property_set(m, "a", "changed"), 0);
    iothub_message_destroy(m);
    assert_string_equal(iothub_message_get_message_id(c), "m1");
    assert_string_equal(iothub_message_property_get(c, "a"), "1");
    assert_int_equal(iothub_message_get_kind(c), IOTHUB_MESSAGE_BYTES);
    const uint8_t *body;
    size_t len;
    assert_int_equal(iothub_message_get_body(c, &body, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(body, "hi", 2);
    iothub_message_destroy(c);
}

static void test_property_bag(void **state)
{
    (void)state;
    iothub_message_t *m = NULL;
    char bag[512];
    assert_int_equal(iothub_message_create_from_string(&m, "x"), 0);
    assert_int_equal(iothub_message_encode_property_bag(m, bag, sizeof(bag)), 0);
    assert_string_equal(bag, "");

    assert_int_equal(iothub_message_property_add(m, "Property", "PropMsg_1"), 0);
    assert_int_equal(iothub_message_set_content_encoding(m, "utf-8"), 0);
    assert_int_equal(iothub_message_set_content_type(m, "application/json"), 0);
    assert_int_equal(iothub_message_set_correlation_id(m, "correlation_1"), 0);
    assert_int_equal(iothub_message_set_message_id(m, "message_1"), 0);
    assert_int_equal(iothub_message_property_add(m, "a b&c=d", "x/y?z%"), 0);
    int n = iothub_message_encode_property_bag(m, bag, sizeof(bag));
    const char *want = "%24.mid=message_1&%24.cid=correlation_1&%24.ct=application%2Fjson&"
                       "%24.ce=utf-8&Property=PropMsg_1&a%20b%26c%3Dd=x%2Fy%3Fz%25";
    assert_string_equal(bag, want);
    assert_int_equal(n, (int)strlen(want));
    assert_int_equal(iothub_message_encode_property_bag(m, bag, 20), IOTHUB_ETOOBIG);
    iothub_message_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_and_bytes_bodies), cmocka_unit_test(test_system_properties),
        cmocka_unit_test(test_application_properties),  cmocka_unit_test(test_property_limit),
        cmocka_unit_test(test_clone_is_deep),           cmocka_unit_test(test_property_bag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
