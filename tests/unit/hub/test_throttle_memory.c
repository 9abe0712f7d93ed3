/* The per-device bucket kept across reconnects (src/hub/throttle_memory.c): remembered only
 * while ahead of the clock, taken once, bounded, and a reconnecting device resumes where its
 * bucket was instead of with a full one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "hub/throttle.h"
#include "hub/throttle_memory.h"

#define S  1000000000LL
#define MS 1000000LL

static const int64_t T0 = 1000 * S;

static void test_remembers_only_what_is_ahead(void **state)
{
    (void)state;
    struct throttle_memory *m = throttle_memory_new(100);
    assert_non_null(m);
    throttle_memory_save(m, "full", T0 - 1, T0); /* a full bucket: nothing to remember */
    throttle_memory_save(m, "busy", T0 + 2 * S, T0);
    assert_int_equal(throttle_memory_count(m), 1);
    assert_int_equal(throttle_memory_take(m, "full", T0), 0);
    assert_int_equal(throttle_memory_take(m, "busy", T0 + S), T0 + 2 * S);
    assert_int_equal(throttle_memory_take(m, "busy", T0 + S), 0); /* taken once */
    assert_int_equal(throttle_memory_count(m), 0);
    throttle_memory_free(m);
}

static void test_expired_entries_go(void **state)
{
    (void)state;
    struct throttle_memory *m = throttle_memory_new(100);
    throttle_memory_save(m, "a", T0 + S, T0);
    assert_int_equal(throttle_memory_take(m, "a", T0 + 2 * S), 0); /* refilled meanwhile */
    throttle_memory_save(m, "b", T0 + S, T0);
    throttle_memory_save(m, "b", T0 + 3 * S, T0 + S / 2); /* a later close replaces it */
    assert_int_equal(throttle_memory_count(m), 1);
    throttle_memory_save(m, "b", T0, T0 + S); /* and one with a full bucket forgets it */
    assert_int_equal(throttle_memory_count(m), 0);
    throttle_memory_free(m);
}

static void test_bounded(void **state)
{
    (void)state;
    struct throttle_memory *m = throttle_memory_new(50);
    char id[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "dev-%d", i);
        throttle_memory_save(m, id, T0 + S, T0);
    }
    assert_int_equal(throttle_memory_count(m), 50);
    assert_int_equal(throttle_memory_take(m, "dev-49", T0), T0 + S);
    assert_int_equal(throttle_memory_take(m, "dev-50", T0), 0); /* there was no room */
    /* Once they have refilled, the next saves find room again. */
    for (int i = 200; i < 260; i++) {
        snprintf(id, sizeof(id), "dev-%d", i);
        throttle_memory_save(m, id, T0 + 3 * S, T0 + 2 * S);
    }
    assert_int_equal(throttle_memory_count(m), 50);
    assert_int_equal(throttle_memory_take(m, "dev-200", T0 + 2 * S), T0 + 3 * S);
    assert_int_equal(throttle_memory_take(m, "dev-0", T0 + 2 * S), 0);
    throttle_memory_free(m);
}

/* The hub's use: a device over 10 msgs/s sends 30 at once, disconnects, reconnects at once
 * and must wait as if it had stayed, not get a fresh second of burst. */
static void test_reconnect_keeps_the_bucket(void **state)
{
    (void)state;
    struct throttle_rate r;
    throttle_rate_set(&r, 10);
    struct throttle_memory *m = throttle_memory_new(100);
    int64_t tat = 0, wait = 0;
    for (int i = 0; i < 30; i++)
        wait = throttle_take(&r, &tat, T0, 10 * S);
    assert_true(wait > S); /* 30 against a burst of 10 at 10/s: two seconds behind */
    throttle_memory_save(m, "dev", tat, T0);
    int64_t again = throttle_memory_take(m, "dev", T0 + 100 * MS);
    assert_int_equal(again, tat);
    int64_t next = throttle_take(&r, &again, T0 + 100 * MS, 10 * S);
    assert_true(next > S); /* still held back */
    int64_t fresh = 0;
    assert_int_equal(throttle_take(&r, &fresh, T0 + 100 * MS, 10 * S), 0); /* without it */
    throttle_memory_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remembers_only_what_is_ahead),
        cmocka_unit_test(test_expired_entries_go),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_reconnect_keeps_the_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
