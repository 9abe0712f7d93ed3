/* base64 (RFC 4648 section 4): the RFC vectors, bounds, and strict decoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/base64.h"

static const struct {
    const char *plain, *b64;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};
#define RFC_COUNT (sizeof(rfc4648) / sizeof(rfc4648[0]))

static int decode(const char *in, uint8_t *out, size_t cap)
{
    return base64_decode(in, strlen(in), out, cap);
}

static void test_encode_rfc_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC_COUNT; i++) {
        char out[16];
        size_t n = strlen(rfc4648[i].plain);
        assert_int_equal(base64_encode((const uint8_t *)rfc4648[i].plain, n, out, sizeof(out)),
                         (int)strlen(rfc4648[i].b64));
        assert_string_equal(out, rfc4648[i].b64);
    }
}

static void test_decode_rfc_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC_COUNT; i++) {
        uint8_t out[16];
        size_t n = strlen(rfc4648[i].plain);
        assert_int_equal(decode(rfc4648[i].b64, out, sizeof(out)), (int)n);
        assert_memory_equal(out, rfc4648[i].plain, n);
    }
}

static void test_encode_bounds(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(BASE64_ENCODED_SIZE(0), 1);
    assert_int_equal(BASE64_ENCODED_SIZE(1), 5);
    assert_int_equal(BASE64_ENCODED_SIZE(32), 45);
    /* Exactly BASE64_ENCODED_SIZE fits; one less does not. */
    assert_int_equal(base64_encode((const uint8_t *)"foob", 4, out, 9), 8);
    assert_int_equal(base64_encode((const uint8_t *)"foob", 4, out, 8), -1);
    assert_int_equal(base64_encode((const uint8_t *)"", 0, out, 1), 0);
    assert_int_equal(base64_encode((const uint8_t *)"", 0, out, 0), -1);
}

static void test_decode_bounds(void **state)
{
    (void)state;
    uint8_t out[8];
    assert_int_equal(decode("Zm9vYmFy", out, 6), 6);
    assert_int_equal(decode("Zm9vYmFy", out, 5), -1);
    assert_int_equal(decode("Zm9vYg==", out, 4), 4);
    assert_int_equal(decode("Zm9vYg==", out, 3), -1);
    /* Only len bytes are read. */
    assert_int_equal(base64_decode("Zm9v!!!!", 4, out, sizeof(out)), 3);
}

static void test_non_canonical_padding_rejected(void **state)
{
    (void)state;
    uint8_t out[8];
    /* "f" is Zg==; Zh== decodes to the same byte with non-zero spare bits. */
    assert_int_equal(decode("Zg==", out, sizeof(out)), 1);
    assert_int_equal(decode("Zh==", out, sizeof(out)), -1);
    assert_int_equal(decode("Zv==", out, sizeof(out)), -1);
    /* "fo" is Zm8=; Zm9= has a spare bit set. */
    assert_int_equal(decode("Zm8=", out, sizeof(out)), 2);
    assert_int_equal(decode("Zm9=", out, sizeof(out)), -1);
    /* A key with a non-canonical last character. */
    assert_int_equal(decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", (uint8_t[32]){0}, 32),
                     32);
    assert_int_equal(decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", (uint8_t[32]){0}, 32),
                     -1);
}

static void test_malformed_rejected(void **state)
{
    (void)state;
    uint8_t out[16];
    static const char *const bad[] = {
        "Zg",                   /* missing padding */
        "Zg=",                  /* short padding */
        "Zm9",                  /* length not a multiple of 4 */
        "Zm9vY",                /* ditto */
        "====",                 /* padding only */
        "A===",                 /* three pads */
        "=Zg=",                 /* pad first */
        "Z=g=",                 /* pad in the middle of a group */
        "Zg==Zg==",             /* pad before the last group */
        "Zm9v\n",               /* whitespace */
        "Zm 9",                 /* space */
        "Zm-_",                 /* URL-safe alphabet */
        "Zm9*",                 /* outside the alphabet */
        "Zm9v\x80\x80\x80\x80", /* high bytes */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(decode(bad[i], out, sizeof(out)), -1);
    /* A NUL inside len. */
    assert_int_equal(base64_decode("Zm\0v", 4, out, sizeof(out)), -1);
}

static void test_round_trip_binary(void **state)
{
    (void)state;
    uint8_t in[256], back[256];
    char text[BASE64_ENCODED_SIZE(256)];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)(255 - i);
    for (size_t n = 0; n <= sizeof(in); n += 17) {
        int len = base64_encode(in, n, text, sizeof(text));
        assert_int_equal(len, (int)BASE64_ENCODED_SIZE(n) - 1);
        assert_int_equal(base64_decode(text, (size_t)len, back, sizeof(back)), (int)n);
        assert_memory_equal(back, in, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_rfc_vectors),
        cmocka_unit_test(test_decode_rfc_vectors),
        cmocka_unit_test(test_encode_bounds),
        cmocka_unit_test(test_decode_bounds),
        cmocka_unit_test(test_non_canonical_padding_rejected),
        cmocka_unit_test(test_malformed_rejected),
        cmocka_unit_test(test_round_trip_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
