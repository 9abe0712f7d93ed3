/* Token buckets of the --throttle-* flags (src/hub/throttle.c): burst, steady rate, refill,
 * the wait cap, the refusing variant, and the shared bucket under two threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "common/isotime.h"
#include "hub/throttle.h"

#define S  1000000000LL
#define MS 1000000LL

static const int64_t T0 = 1000 * S; /* an arbitrary monotonic "now" */

static void test_rate_set(void **state)
{
    (void)state;
    struct throttle_rate r;
    assert_int_equal(throttle_rate_set(&r, 0), 0);
    assert_false(throttle_rate_on(&r));
    assert_int_equal(throttle_rate_set(&r, 100), 0);
    assert_true(throttle_rate_on(&r));
    assert_int_equal(r.interval_ns, 10 * MS);
    assert_int_equal(r.burst_ns, 100 * 10 * MS); /* one second of operations */
    assert_int_equal(throttle_rate_set(&r, 0.5), 0);
    assert_int_equal(r.interval_ns, 2 * S);
    assert_int_equal(r.burst_ns, 2 * S); /* at least one operation */
    assert_int_equal(throttle_rate_set(&r, -1), -1);
    assert_int_equal(throttle_rate_set(&r, 0.0 / 0.0), -1);
    assert_int_equal(throttle_rate_set(&r, 2e9), -1);
}

static void test_off_never_waits(void **state)
{
    (void)state;
    struct throttle_rate r;
    throttle_rate_set(&r, 0);
    int64_t tat = 0;
    _Atomic int64_t shared = 0;
    for (int i = 0; i < 100000; i++) {
        assert_int_equal(throttle_take(&r, &tat, T0, 0), 0);
        assert_true(throttle_try_shared(&r, &shared, T0));
    }
    assert_int_equal(tat, 0);
}

/* 10/s: ten at once, then each further one asks for a tenth of a second. */
static void test_burst_then_steady_rate(void **state)
{
    (void)state;
    struct throttle_rate r;
    throttle_rate_set(&r, 10);
    int64_t tat = 0, now = T0;
    for (int i = 0; i < 10; i++)
        assert_int_equal(throttle_take(&r, &tat, now, S), 0);
    assert_int_equal(throttle_take(&r, &tat, now, S), 100 * MS);
    /* A caller that waits as told keeps being told to wait one interval: exactly 10/s. */
    int taken = 0;
    while (now < T0 + 10 * S) {
        now += 100 * MS;
        assert_int_equal(throttle_take(&r, &tat, now, S), 100 * MS);
        taken++;
    }
    assert_int_equal(taken, 100);
}

/* Refusing over the rate (no wait allowed) lets exactly burst + rate x time through, however
 * much is offered. */
static void test_free_operations_are_bounded(void **state)
{
    (void)state;
    struct throttle_rate r;
    throttle_rate_set(&r, 50);
    int64_t tat = 0;
    int free_ops = 0;
    for (int64_t now = T0; now < T0 + 4 * S; now += MS)
        for (int k = 0; k < 5; k++) /* 5000/s offered */
            if (throttle_take(&r, &tat, now, 0) == 0)
                free_ops++;
    /* 50 of burst, then 50 per second for 4 s. */
    assert_in_range(free_ops, 249, 251);
}

static void test_refills_after_idle(void **state)
{
    (void)state;
    struct throttle_rate r;
    throttle_rate_set(&r, 4);
    int64_t tat = 0;
    for (int i = 0; i < 4; i++)
        assert_int_equal(throttle_take(&r, &tat, T0, S), 0);
    assert_true(throttle_take(&r, &tat, T0, S) > 0);
    /* Half a second later: tokens for two more, no more than that. */
    int64_t later = T0 + 500 * MS + 250 * MS; /* the fifth took one in advance */
    assert_int_equal(throttle_take(&r, &tat, later, S), 0);
    assert_int_equal(throttle_take(&r, &tat, later, S), 0);
    assert_true(throttle_take(&r, &tat, later, S) > 0);
    /* A long idle refills to the burst and no further. */
    int64_t idle = later + 3600 * S;
    for (int i = 0; i < 4; i++)
        assert_int_equal(throttle_take(&r, &tat, idle, S), 0);
    assert_true(throttle_take(&r, &tat, idle, S) > 0);
}

/* A wait above the cap charges nothing: refusing does not push later operations back. */
static void test_cap_refuses_without_charging(void **state)
{
    (void)state;
    struct throttle_rate r;
    throttle_rate_set(&r, 10);
    int64_t tat = 0;
    for (int i = 0; i < 10; i++)
        assert_int_equal(throttle_take(&r, &tat, T0, 250 * MS), 0);
    assert_int_equal(throttle_take(&r, &tat, T0, 250 * MS), 100 * MS);
    assert_int_equal(throttle_take(&r, &tat, T0, 250 * MS), 200 * MS);
    int64_t before = tat;
    assert_int_equal(throttle_take(&r, &tat, T0, 250 * MS), -1);
    assert_int_equal(tat, before);
    assert_int_equal(throttle_take(&r, &tat, T0 + 100 * MS, 250 * MS), 200 * MS);
}

static void test_try_refuses_over_rate(void **state)
{
    (void)state;
    struct throttle_rate r;
    throttle_rate_set(&r, 5);
    _Atomic int64_t tat = 0;
    for (int i = 0; i < 5; i++)
        assert_true(throttle_try_shared(&r, &tat, T0));
    for (int i = 0; i < 100; i++)
        assert_false(throttle_try_shared(&r, &tat, T0)); /* refusals cost nothing */
    assert_false(throttle_try_shared(&r, &tat, T0 + 199 * MS));
    assert_true(throttle_try_shared(&r, &tat, T0 + 200 * MS));
    assert_false(throttle_try_shared(&r, &tat, T0 + 200 * MS));
}

static void test_hub_throttle_init(void **state)
{
    (void)state;
    struct hub_throttle t;
    assert_int_equal(hub_throttle_init(&t, 0, 0, 0), 0);
    assert_false(throttle_rate_on(&t.d2c_device));
    assert_false(throttle_rate_on(&t.d2c_hub));
    assert_false(throttle_rate_on(&t.connects_hub));
    assert_null(t.d2c_device_memory); /* nothing to remember with the device rate off */
    hub_throttle_free(&t);
    assert_int_equal(hub_throttle_init(&t, 100, 1000, 50), 0);
    assert_int_equal(t.d2c_device.interval_ns, 10 * MS);
    assert_int_equal(t.d2c_hub.interval_ns, 1 * MS);
    assert_int_equal(t.connects_hub.interval_ns, 20 * MS);
    assert_non_null(t.d2c_device_memory);
    hub_throttle_free(&t);
    assert_null(t.d2c_device_memory);
    assert_int_equal(hub_throttle_init(&t, 1, -5, 1), -1);
}

/* Two threads on one shared bucket at a frozen clock: exactly the burst gets through. */
struct racer {
    const struct throttle_rate *r;
    _Atomic int64_t *tat;
    int granted;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    for (int i = 0; i < 200000; i++)
        if (throttle_take_shared(x->r, x->tat, T0, 0) == 0)
            x->granted++;
    return NULL;
}

static void test_shared_bucket_two_threads(void **state)
{
    (void)state;
    struct throttle_rate r;
    throttle_rate_set(&r, 1000);
    _Atomic int64_t tat = 0;
    struct racer a = {&r, &tat, 0}, b = {&r, &tat, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.granted + b.granted, 1000);
}

static void test_now_is_monotonic(void **state)
{
    (void)state;
    int64_t a = time_mono_ns(), b = time_mono_ns();
    assert_true(a > 0);
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_set),
        cmocka_unit_test(test_off_never_waits),
        cmocka_unit_test(test_burst_then_steady_rate),
        cmocka_unit_test(test_free_operations_are_bounded),
        cmocka_unit_test(test_refills_after_idle),
        cmocka_unit_test(test_cap_refuses_without_charging),
        cmocka_unit_test(test_try_refuses_over_rate),
        cmocka_unit_test(test_hub_throttle_init),
        cmocka_unit_test(test_shared_bucket_two_threads),
        cmocka_unit_test(test_now_is_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
