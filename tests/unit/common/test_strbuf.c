/* Bounded string copies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/strbuf.h"

static void test_copy(void **state)
{
    (void)state;
    char buf[4];
    assert_true(str_copy(buf, sizeof(buf), "abc"));
    assert_string_equal(buf, "abc");
    assert_true(str_copy(buf, sizeof(buf), ""));
    assert_string_equal(buf, "");
    assert_false(str_copy(buf, sizeof(buf), "abcd")); /* truncated but terminated */
    assert_string_equal(buf, "abc");
    buf[0] = 'x';
    assert_false(str_copy(buf, 0, "a"));
    assert_int_equal(buf[0], 'x');
}

static void test_copy_n(void **state)
{
    (void)state;
    char buf[4];
    assert_true(str_copy_n(buf, sizeof(buf), "abcdef", 3));
    assert_string_equal(buf, "abc");
    assert_false(str_copy_n(buf, sizeof(buf), "abcdef", 4));
    assert_string_equal(buf, "abc");
    assert_true(str_copy_n(buf, sizeof(buf), "xyz", 0));
    assert_string_equal(buf, "");
    /* Reads only len bytes: the source need not be terminated. */
    const char raw[3] = {'p', 'q', 'r'};
    assert_true(str_copy_n(buf, sizeof(buf), raw, sizeof(raw)));
    assert_string_equal(buf, "pqr");
    assert_false(str_copy_n(buf, 1, raw, 1));
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_copy_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
