/* The Event Hubs selector filter (spec 5.4): every expression @azure/event-hubs produces,
 * spacing and case variants, and malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hub/amqp/filter.h"

static int parse(const char *s, struct amqp_filter *f)
{
    char err[256];
    return amqp_filter_parse(s, strlen(s), f, err, sizeof(err));
}

static void expect(const char *s, enum amqp_filter_start start, int64_t value, bool inclusive)
{
    struct amqp_filter f;
    assert_int_equal(parse(s, &f), 0);
    assert_int_equal(f.start, start);
    assert_int_equal(f.value, value);
    assert_int_equal(f.inclusive, inclusive);
}

static void test_sdk_expressions(void **state)
{
    (void)state;
    /* The exact strings of @azure/event-hubs 6.0.4 (fixtures/wire/amqps-eventhubs.txt). */
    expect("amqp.annotation.x-opt-offset > '-1'", AMQP_START_EARLIEST, 0, false);
    expect("amqp.annotation.x-opt-offset > '@latest'", AMQP_START_LATEST, 0, false);
    expect("amqp.annotation.x-opt-offset > '4096'", AMQP_START_OFFSET, 4096, false);
    expect("amqp.annotation.x-opt-offset >= '4096'", AMQP_START_OFFSET, 4096, true);
    expect("amqp.annotation.x-opt-sequence-number > '7'", AMQP_START_SEQ, 7, false);
    expect("amqp.annotation.x-opt-sequence-number >= '0'", AMQP_START_SEQ, 0, true);
    expect("amqp.annotation.x-opt-enqueued-time > '1700000000000'", AMQP_START_TIME,
           1700000000000LL, false);
    expect("amqp.annotation.x-opt-enqueued-time >= '1700000000000'", AMQP_START_TIME,
           1700000000000LL, true);
}

static void test_variants(void **state)
{
    (void)state;
    expect("amqp.annotation.x-opt-offset>'5'", AMQP_START_OFFSET, 5, false);
    expect("  amqp.annotation.x-opt-offset   >=   '5'  ", AMQP_START_OFFSET, 5, true);
    expect("AMQP.Annotation.X-Opt-Offset > '5'", AMQP_START_OFFSET, 5, false);
    expect("amqp.annotation.x-opt-offset > 5", AMQP_START_OFFSET, 5, false);
    expect("amqp.annotation.x-opt-offset >= '-1'", AMQP_START_EARLIEST, 0, false);
    expect("amqp.annotation.x-opt-sequence-number > '-1'", AMQP_START_EARLIEST, 0, false);
    expect("amqp.annotation.x-opt-offset > '9223372036854775807'", AMQP_START_OFFSET, INT64_MAX,
           false);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "amqp.annotation.",
        "amqp.annotation.x-opt-offset",
        "amqp.annotation.x-opt-offset >",
        "amqp.annotation.x-opt-offset > '",
        "amqp.annotation.x-opt-offset > ''",
        "amqp.annotation.x-opt-offset < '5'",
        "amqp.annotation.x-opt-offset = '5'",
        "amqp.annotation.x-opt-offset > '5' AND 1=1",
        "amqp.annotation.x-opt-offset > 'abc'",
        "amqp.annotation.x-opt-offset > '-2'",
        "amqp.annotation.x-opt-offset > '9223372036854775808'",
        "amqp.annotation.x-opt-sequence-number > '@latest'",
        "amqp.annotation.x-opt-enqueued-time > '-1'",
        "amqp.annotation.x-opt-partition-key > '5'",
        "sys.offset > '5'",
        "amqp.annotation.x-opt-offset > '5'' ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct amqp_filter f;
        char err[256] = "";
        assert_int_equal(amqp_filter_parse(bad[i], strlen(bad[i]), &f, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
    }
}

static void test_not_nul_terminated_and_bounded(void **state)
{
    (void)state;
    const char buf[] = "amqp.annotation.x-opt-offset > '12'XXXX";
    struct amqp_filter f;
    char err[128];
    assert_int_equal(amqp_filter_parse(buf, strlen(buf) - 4, &f, err, sizeof(err)), 0);
    assert_int_equal(f.value, 12);
    char big[AMQP_FILTER_MAX + 2];
    memset(big, ' ', sizeof(big));
    assert_int_equal(amqp_filter_parse(big, sizeof(big), &f, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdk_expressions),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_not_nul_terminated_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
