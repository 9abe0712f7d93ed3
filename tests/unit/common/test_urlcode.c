/* Percent-encoding: plain RFC 3986 decoding ('+' stays '+') and encodeURIComponent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/urlcode.h"

static int decode(const char *in, char *out, size_t cap)
{
    return url_decode(in, strlen(in), out, cap);
}

static int encode(const char *in, char *out, size_t cap)
{
    return url_encode_component(in, strlen(in), out, cap);
}

static void test_decode_basic(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(decode("localhost%2Fdevices%2Fdev1", out, sizeof(out)), 22);
    assert_string_equal(out, "localhost/devices/dev1");
    assert_int_equal(decode("a%2fb%2Fc", out, sizeof(out)), 5); /* either hex case */
    assert_string_equal(out, "a/b/c");
    assert_int_equal(decode("a+b%2B", out, sizeof(out)), 4); /* '+' is a plus */
    assert_string_equal(out, "a+b+");
    assert_int_equal(decode("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(decode("%C3%A9%24%25", out, sizeof(out)), 4);
    assert_string_equal(out, "\xc3\xa9$%");
    assert_int_equal(decode("%252F", out, sizeof(out)), 3); /* one level only */
    assert_string_equal(out, "%2F");
    assert_int_equal(decode("%ff", out, sizeof(out)), 1);
    assert_int_equal((unsigned char)out[0], 0xff);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    char out[64];
    static const char *const bad[] = {"%",    "%2",  "a%",  "%zz",       "%2G", "%G2",
                                      "%%41", "%-1", "%00", "abc%00def", "% 41"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(decode(bad[i], out, sizeof(out)), -1);
    /* A raw NUL inside len is rejected too. */
    assert_int_equal(url_decode("ab\0cd", 5, out, sizeof(out)), -1);
}

static void test_decode_bounds(void **state)
{
    (void)state;
    char out[8];
    /* Only len bytes are read: "%2" then garbage past len is never looked at. */
    assert_int_equal(url_decode("abc%2F", 3, out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(url_decode("abc%2F", 5, out, sizeof(out)), -1);
    /* Exactly fitting output (7 chars + NUL), and one over. */
    assert_int_equal(decode("abcdefg", out, 8), 7);
    assert_int_equal(decode("abcdefgh", out, 8), -1);
    assert_int_equal(decode("%41%41%41%41%41%41%41", out, 8), 7);
    assert_int_equal(decode("", out, 1), 0);
    assert_int_equal(decode("", out, 0), -1);
    assert_int_equal(decode("a", out, 1), -1);
}

static void test_decode_in_place(void **state)
{
    (void)state;
    char buf[] = "sb%3A%2F%2Flocalhost%2F%24default";
    assert_int_equal(url_decode(buf, strlen(buf), buf, sizeof(buf)), 23);
    assert_string_equal(buf, "sb://localhost/$default");
}

static void test_encode_component(void **state)
{
    (void)state;
    char out[128];
    /* Unreserved characters of encodeURIComponent pass through. */
    const char *plain = "AZaz09-_.!~*'()";
    assert_int_equal(encode(plain, out, sizeof(out)), (int)strlen(plain));
    assert_string_equal(out, plain);
    assert_int_equal(encode("localhost/devices/dev1", out, sizeof(out)), 26);
    assert_string_equal(out, "localhost%2Fdevices%2Fdev1");
    encode("a b+c=d&e%f#g?h$i,j@k:l;m", out, sizeof(out));
    assert_string_equal(out, "a%20b%2Bc%3Dd%26e%25f%23g%3Fh%24i%2Cj%40k%3Al%3Bm");
    encode("\xc3\xa9\x01\x7f", out, sizeof(out));
    assert_string_equal(out, "%C3%A9%01%7F");
    assert_int_equal(encode("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

static void test_encode_bounds(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(encode("abcdefg", out, 8), 7);
    assert_int_equal(encode("abcdefgh", out, 8), -1);
    assert_int_equal(encode("ab/", out, 6), 5); /* "ab%2F" + NUL */
    assert_int_equal(encode("ab/", out, 5), -1);
    assert_int_equal(encode("", out, 0), -1);
}

static void test_round_trip_all_bytes(void **state)
{
    (void)state;
    char in[256], enc[768], dec[256];
    for (int i = 1; i < 256; i++)
        in[i - 1] = (char)i;
    in[255] = '\0';
    int n = url_encode_component(in, 255, enc, sizeof(enc));
    assert_true(n > 255);
    /* Upper-case hex only. */
    for (int i = 0; i < n; i++)
        if (enc[i] == '%')
            assert_null(strpbrk((char[]){enc[i + 1], enc[i + 2], 0}, "abcdef"));
    assert_int_equal(url_decode(enc, (size_t)n, dec, sizeof(dec)), 255);
    assert_memory_equal(dec, in, 256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_basic),         cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_decode_bounds),        cmocka_unit_test(test_decode_in_place),
        cmocka_unit_test(test_encode_component),     cmocka_unit_test(test_encode_bounds),
        cmocka_unit_test(test_round_trip_all_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
