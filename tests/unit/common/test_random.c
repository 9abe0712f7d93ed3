/* Randomness helpers: shapes of the outputs (not the quality of OpenSSL's generator). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/base64.h"
#include "common/device.h"
#include "common/random.h"

static void test_bytes(void **state)
{
    (void)state;
    uint8_t a[32] = {0}, b[32] = {0};
    assert_int_equal(random_bytes(a, sizeof(a)), 0);
    assert_int_equal(random_bytes(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(random_bytes(a, 0), 0);
}

static void test_key(void **state)
{
    (void)state;
    char k1[45], k2[45];
    assert_int_equal(random_key_b64(k1), 0);
    assert_int_equal(random_key_b64(k2), 0);
    assert_int_equal(strlen(k1), 44);
    assert_string_not_equal(k1, k2);
    uint8_t raw[40];
    assert_int_equal(base64_decode(k1, 44, raw, sizeof(raw)), 32);
    assert_true(device_key_valid(k1)); /* the hub's own keys pass its creation check */
}

static void test_hex32(void **state)
{
    (void)state;
    char h1[33], h2[33];
    assert_int_equal(random_hex32(h1), 0);
    assert_int_equal(random_hex32(h2), 0);
    assert_int_equal(strlen(h1), 32);
    assert_int_equal(strspn(h1, "0123456789abcdef"), 32);
    assert_string_not_equal(h1, h2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_hex32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
