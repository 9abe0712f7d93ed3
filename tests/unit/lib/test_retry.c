/* libiothub retry policies: the delay before each reconnect attempt. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

static void test_fixed_policies(void **state)
{
    (void)state;
    for (unsigned n = 1; n < 20; n++) {
        assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_NONE, n, 0.5), -1);
        assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_IMMEDIATE, n, 0.5), 0);
        assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_INTERVAL, n, 0.5), 5000);
    }
}

static void test_linear_backoff(void **state)
{
    (void)state;
    assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_LINEAR_BACKOFF, 1, 0), 5000);
    assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_LINEAR_BACKOFF, 2, 0), 10000);
    assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_LINEAR_BACKOFF, 7, 0), 35000);
    assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_LINEAR_BACKOFF, 1000, 0), 600000);
}

static void test_exponential_backoff(void **state)
{
    (void)state;
    const int64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    for (unsigned n = 1; n <= 9; n++)
        assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_EXPONENTIAL_BACKOFF, n, 0.9),
                         want[n - 1]);
    assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_EXPONENTIAL_BACKOFF, 4000000000u, 0),
                     60000);
    /* attempt 0 is treated as the first */
    assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_EXPONENTIAL_BACKOFF, 0, 0), 1000);
}

static void test_jitter_bounds(void **state)
{
    (void)state;
    const iothub_retry_policy_t p = IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER;
    assert_int_equal(iotlib_retry_delay_ms(p, 1, 0), 1000);
    assert_int_equal(iotlib_retry_delay_ms(p, 1, 0.5), 1100);
    assert_int_equal(iotlib_retry_delay_ms(p, 3, 0.999999), 4799);
    assert_int_equal(iotlib_retry_delay_ms(p, 10, 0.5), 66000);
    /* out-of-range randomness counts as 0 */
    assert_int_equal(iotlib_retry_delay_ms(p, 2, 1.0), 2000);
    assert_int_equal(iotlib_retry_delay_ms(p, 2, -3), 2000);
    for (int i = 0; i < 1000; i++) {
        double r = iotlib_random_unit();
        assert_true(r >= 0 && r < 1);
        int64_t d = iotlib_retry_delay_ms(p, 2, r);
        assert_true(d >= 2000 && d < 2400);
    }
}

static void test_random_policy(void **state)
{
    (void)state;
    assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_RANDOM, 1, 0), 0);
    assert_int_equal(iotlib_retry_delay_ms(IOTHUB_RETRY_RANDOM, 5, 0.5), 2500);
    assert_true(iotlib_retry_delay_ms(IOTHUB_RETRY_RANDOM, 5, 0.9999) < 5000);
}

static void test_policy_validation(void **state)
{
    (void)state;
    assert_true(iotlib_retry_policy_valid(IOTHUB_RETRY_NONE));
    assert_true(iotlib_retry_policy_valid(IOTHUB_RETRY_RANDOM));
    assert_false(iotlib_retry_policy_valid(-1));
    assert_false(iotlib_retry_policy_valid(7));
    assert_string_equal(iothub_retry_policy_name(IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER),
                        "EXPONENTIAL_BACKOFF_WITH_JITTER");
    assert_string_equal(iothub_retry_policy_name((iothub_retry_policy_t)42), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_policies),      cmocka_unit_test(test_linear_backoff),
        cmocka_unit_test(test_exponential_backoff), cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_random_policy),       cmocka_unit_test(test_policy_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
