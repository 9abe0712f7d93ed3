/* ISO 8601 UTC formatting and parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/isotime.h"

#define T_2023 INT64_C(1700000000123) /* 2023-11-14T22:13:20.123Z */

static int64_t parsed(const char *s)
{
    int64_t ms = -12345;
    assert_int_equal(isotime_parse(s, &ms), 0);
    return ms;
}

static void test_format(void **state)
{
    (void)state;
    char buf[ISOTIME_SIZE];
    assert_string_equal(isotime_format(T_2023, buf, sizeof(buf)), "2023-11-14T22:13:20.123Z");
    assert_string_equal(isotime_format(1, buf, sizeof(buf)), "1970-01-01T00:00:00.001Z");
    assert_string_equal(isotime_format(951782400000, buf, sizeof(buf)),
                        "2000-02-29T00:00:00.000Z"); /* leap day */
    assert_string_equal(isotime_format(INT64_C(4102444799999), buf, sizeof(buf)),
                        "2099-12-31T23:59:59.999Z");
}

static void test_never_is_year_one(void **state)
{
    (void)state;
    char buf[ISOTIME_SIZE];
    assert_string_equal(isotime_format(0, buf, sizeof(buf)), "0001-01-01T00:00:00Z");
    assert_true(parsed("0001-01-01T00:00:00Z") == 0);
    assert_true(parsed("0001-01-01T00:00:00") == 0);
    assert_true(parsed("0001-01-01T00:00:00.0000000Z") == 0);
    assert_string_equal(isotime_format(-5, buf, sizeof(buf)), "0001-01-01T00:00:00Z");
    assert_true(parsed("2024-02-29T00:00:00Z") == 1709164800000LL);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const int64_t samples[] = {1,
                                      999,
                                      1000,
                                      86399999,
                                      951782400000,
                                      T_2023,
                                      INT64_C(1795670515000),
                                      INT64_C(4102444799999)};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char buf[ISOTIME_SIZE];
        isotime_format(samples[i], buf, sizeof(buf));
        assert_true(parsed(buf) == samples[i]);
    }
}

static void test_parse_variants(void **state)
{
    (void)state;
    /* No fraction, no zone (taken as UTC), .NET's 7 fraction digits, 1 digit. */
    assert_true(parsed("2023-11-14T22:13:20Z") == 1700000000000);
    assert_true(parsed("2023-11-14T22:13:20") == 1700000000000);
    assert_true(parsed("2023-11-14T22:13:20.1234567Z") == T_2023);
    assert_true(parsed("2023-11-14T22:13:20.1Z") == 1700000000100);
    assert_true(parsed("1970-01-01T00:00:00Z") == 0);
}

static void test_parse_offsets(void **state)
{
    (void)state;
    assert_true(parsed("2023-11-14T23:13:20.123+01:00") == T_2023);
    assert_true(parsed("2023-11-14T16:43:20.123-05:30") == T_2023);
    assert_true(parsed("2023-11-15T00:13:20.123+02:00") == T_2023); /* crosses midnight */
    assert_true(parsed("2023-11-14T22:13:20.123+00:00") == T_2023);
    assert_true(parsed("2023-11-14T22:13:20.123-00:00") == T_2023);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2023",
        "2023-11-14",
        "2023-11-14 22:13:20Z",
        "2023-11-14t22:13:20Z",
        "2023-13-14T22:13:20Z",
        "2023-00-14T22:13:20Z",
        "2023-11-00T22:13:20Z",
        "2023-11-32T22:13:20Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:60:00Z",
        "2023-11-14T22:13:61Z",
        "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20.123ZZ",
        "2023-11-14T22:13:20.123z",
        "2023-11-14T22:13:20+1:00",
        "2023-11-14T22:13:20+01",
        "2023-11-14T22:13:20+0100",
        "2023-11-14T22:13:20+24:00",
        "2023-11-14T22:13:20+01:60",
        "2023-11-14T22:13:20 ",
        " 2023-11-14T22:13:20Z",
        "20231114T221320Z",
        "1969-12-31T23:59:59Z",
        "0001-01-02T00:00:00Z",
        "+2023-11-14T22:13:20Z",
        "2O23-11-14T22:13:20Z",
        "2023-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2023-04-31T00:00:00Z",
        "0001-01-01T00:00:00.5Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 0;
        if (isotime_parse(bad[i], &ms) != -1) {
            print_error("accepted '%s'\n", bad[i]);
            fail();
        }
    }
}

static void test_now(void **state)
{
    (void)state;
    int64_t a = time_now_ms(), b = time_now_ms();
    assert_true(a > INT64_C(1700000000000)); /* after 2023 */
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),        cmocka_unit_test(test_never_is_year_one),
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_parse_variants),
        cmocka_unit_test(test_parse_offsets), cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
