#include "hub/net/busy_poll.h"

#include <event2/event.h>

#include "common/isotime.h"

/* Late inputs in a row after which the thread stops polling: one late answer is often a
 * hiccup (the device's CPU busy elsewhere), two mean the device has paused. */
#define BUSY_POLL_MISSES 2

void busy_poll_init(struct busy_poll *bp, int64_t window_ns)
{
    bp->window_ns = window_ns > 0 ? window_ns : 0;
    bp->expect_ns = 0;
    bp->misses = 0;
    bp->found = bp->ran_out = 0;
}

void busy_poll_expect(struct busy_poll *bp, int64_t now_ns)
{
    /* The first answer of a batch starts the wait; later ones in the same batch keep it. */
    if (bp->window_ns > 0 && bp->expect_ns == 0)
        bp->expect_ns = now_ns;
}

void busy_poll_input(struct busy_poll *bp, int64_t now_ns)
{
    if (bp->expect_ns == 0)
        return;
    bool quick = now_ns - bp->expect_ns <= bp->window_ns;
    if (bp->misses < BUSY_POLL_MISSES) /* the thread polled for this input */
        ++*(quick ? &bp->found : &bp->ran_out);
    bp->misses = quick ? 0 : bp->misses + 1;
    bp->expect_ns = 0;
}

bool busy_poll_should_spin(const struct busy_poll *bp, int64_t now_ns)
{
    return bp->expect_ns != 0 && bp->misses < BUSY_POLL_MISSES &&
           now_ns - bp->expect_ns < bp->window_ns;
}

void busy_poll_run(struct event_base *base, struct busy_poll *bp)
{
    if (bp->window_ns == 0) {
        event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
        return;
    }
    /* One round of callbacks per call, so that the choice is made again before each wait. */
    while (!event_base_got_break(base)) {
        if (busy_poll_should_spin(bp, time_mono_ns()))
            event_base_loop(base, EVLOOP_NONBLOCK);
        else
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
    }
}
