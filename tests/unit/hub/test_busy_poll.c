/* Busy polling for a lone streaming device (src/hub/net/busy_poll.c): the thread polls only
 * after answering such a device, only within the window, stops after two late answers in a
 * row and starts again after a quick one; the loop still serves events and stops on
 * event_base_loopbreak() whether it polls or sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>

#include "common/isotime.h"
#include "hub/net/busy_poll.h"

#define US 1000LL
#define MS 1000000LL

static const int64_t T0 = 5000 * MS;

static void test_off_never_polls(void **state)
{
    (void)state;
    struct busy_poll bp;
    busy_poll_init(&bp, 0);
    busy_poll_expect(&bp, T0);
    assert_false(busy_poll_should_spin(&bp, T0));
    busy_poll_input(&bp, T0 + US);
    assert_int_equal(bp.found + bp.ran_out, 0);
}

static void test_polls_within_the_window_after_an_answer(void **state)
{
    (void)state;
    struct busy_poll bp;
    busy_poll_init(&bp, 100 * US);
    assert_false(busy_poll_should_spin(&bp, T0)); /* nothing answered yet */
    busy_poll_expect(&bp, T0);
    busy_poll_expect(&bp, T0 + 50 * US); /* the same batch's later PUBACKs keep the start */
    assert_true(busy_poll_should_spin(&bp, T0 + 99 * US));
    assert_false(busy_poll_should_spin(&bp, T0 + 100 * US));
    busy_poll_input(&bp, T0 + 40 * US);
    assert_false(busy_poll_should_spin(&bp, T0 + 41 * US)); /* input came: nothing expected */
    assert_int_equal(bp.found, 1);
    assert_int_equal(bp.ran_out, 0);
}

static void test_two_late_answers_stop_it_and_a_quick_one_restarts_it(void **state)
{
    (void)state;
    struct busy_poll bp;
    busy_poll_init(&bp, 100 * US);
    int64_t t = T0;
    busy_poll_expect(&bp, t);
    busy_poll_input(&bp, t + 5 * MS); /* late once: a hiccup, keep polling */
    assert_int_equal(bp.ran_out, 1);
    t += 10 * MS;
    busy_poll_expect(&bp, t);
    assert_true(busy_poll_should_spin(&bp, t));
    busy_poll_input(&bp, t + 1000 * MS); /* late twice: the device paused */
    assert_int_equal(bp.ran_out, 2);
    t += 2000 * MS;
    busy_poll_expect(&bp, t);
    assert_false(busy_poll_should_spin(&bp, t));
    busy_poll_input(&bp, t + 10 * US); /* quick, though nobody polled for it */
    assert_int_equal(bp.found, 0);
    assert_int_equal(bp.ran_out, 2);
    t += MS;
    busy_poll_expect(&bp, t);
    assert_true(busy_poll_should_spin(&bp, t + US));
    busy_poll_input(&bp, t + 20 * US);
    assert_int_equal(bp.found, 1);
}

static void test_input_without_an_answer_changes_nothing(void **state)
{
    (void)state;
    struct busy_poll bp;
    busy_poll_init(&bp, 100 * US);
    busy_poll_input(&bp, T0); /* a CONNECT, a device on another thread's turn... */
    assert_int_equal(bp.found + bp.ran_out, 0);
    assert_int_equal(bp.misses, 0);
}

struct loop_probe {
    struct event_base *base;
    struct busy_poll *bp;
    int fired;
    int64_t fired_at_ns;
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop_probe *p = arg;
    p->fired++;
    p->fired_at_ns = time_mono_ns();
    event_base_loopbreak(p->base);
}

/* A timer 20 ms out: the loop polls for the first 5 ms (an answer was just sent), then
 * sleeps, serves the timer and returns on its loopbreak. */
static void run_loop_with_timer(int64_t window_ns)
{
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct busy_poll bp;
    busy_poll_init(&bp, window_ns);
    struct loop_probe p = {base, &bp, 0, 0};
    struct event *timer = evtimer_new(base, on_timer, &p);
    struct timeval tv = {0, 20000};
    evtimer_add(timer, &tv);
    int64_t start = time_mono_ns();
    busy_poll_expect(&bp, start);
    busy_poll_run(base, &bp);
    assert_int_equal(p.fired, 1);
    /* libevent's clock is the coarse one: a few ms early at most */
    assert_true(p.fired_at_ns - start >= 10 * MS);
    assert_true(event_base_got_break(base));
    event_free(timer);
    event_base_free(base);
}

static void test_loop_serves_events_and_stops_on_break(void **state)
{
    (void)state;
    run_loop_with_timer(5 * MS);
    run_loop_with_timer(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_never_polls),
        cmocka_unit_test(test_polls_within_the_window_after_an_answer),
        cmocka_unit_test(test_two_late_answers_stop_it_and_a_quick_one_restarts_it),
        cmocka_unit_test(test_input_without_an_answer_changes_nothing),
        cmocka_unit_test(test_loop_serves_events_and_stops_on_break),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
