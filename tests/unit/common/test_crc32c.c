/* CRC32C: the check value, the RFC 3720 (iSCSI) appendix B.4 vectors, chaining, and the
 * hardware path against the table path on unaligned buffers of every small length. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"

static void test_check_value(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c_portable(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c(0, "", 0), 0);
    assert_int_equal(crc32c(0x12345678u, NULL, 0), 0x12345678u);
}

static void test_rfc3720_vectors(void **state)
{
    (void)state;
    uint8_t buf[32];
    memset(buf, 0, sizeof(buf));
    assert_int_equal(crc32c(0, buf, 32), 0x8A9136AAu);
    assert_int_equal(crc32c_portable(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof(buf));
    assert_int_equal(crc32c(0, buf, 32), 0x62A8AB43u);
    assert_int_equal(crc32c_portable(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(crc32c(0, buf, 32), 0x46DD794Eu);
    assert_int_equal(crc32c_portable(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(crc32c(0, buf, 32), 0x113FDB5Cu);
    assert_int_equal(crc32c_portable(0, buf, 32), 0x113FDB5Cu);
}

static void test_chaining(void **state)
{
    (void)state;
    const char *s = "The quick brown fox jumps over the lazy dog";
    size_t n = strlen(s);
    uint32_t whole = crc32c(0, s, n);
    assert_int_equal(whole, 0x22620404u);
    for (size_t cut = 0; cut <= n; cut++) {
        assert_int_equal(crc32c(crc32c(0, s, cut), s + cut, n - cut), whole);
        assert_int_equal(crc32c_portable(crc32c_portable(0, s, cut), s + cut, n - cut), whole);
    }
}

static void test_hw_matches_table(void **state)
{
    (void)state;
    enum { N = 4096 };
    uint8_t *buf = malloc(N + 16);
    assert_non_null(buf);
    uint32_t x = 0x9E3779B9u;
    for (size_t i = 0; i < N + 16; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len < 80; len++)
            assert_int_equal(crc32c(0, buf + off, len), crc32c_portable(0, buf + off, len));
    assert_int_equal(crc32c(7, buf + 3, N), crc32c_portable(7, buf + 3, N));
    /* Any single flipped bit changes the value. */
    uint32_t good = crc32c(0, buf, 256);
    for (size_t bit = 0; bit < 256 * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_not_equal(crc32c(0, buf, 256), good);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    free(buf);
    (void)crc32c_hardware();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_rfc3720_vectors),
        cmocka_unit_test(test_chaining),
        cmocka_unit_test(test_hw_matches_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
