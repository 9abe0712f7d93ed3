/* Bounded busy polling for a device that streams alone on its network thread.
 *
 * Such a device sends its next messages a few tens of microseconds after it gets its
 * PUBACKs. A thread that blocks in epoll_wait meanwhile pays a sleep and a wake-up of its
 * CPU for every round trip; on a virtual machine that halts idle CPUs this costs as much as
 * the hub's own work per round trip. So after answering such a device the thread keeps
 * polling its event loop without blocking for up to --busy-poll-us, as long as the last
 * answer got the next input within that window; two misses in a row (a device that pauses)
 * stop the polling until a quick answer is seen again. Owned by one network thread. */
#ifndef IOTHUB_HUB_NET_BUSY_POLL_H
#define IOTHUB_HUB_NET_BUSY_POLL_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;

struct busy_poll {
    int64_t window_ns; /* --busy-poll-us in ns; 0 = off */
    int64_t expect_ns; /* when a lone device was last answered; 0 = no input expected */
    int misses;        /* expected inputs in a row that came later than the window */
    uint64_t found;    /* waits by polling that the input ended */
    uint64_t ran_out;  /* waits by polling that ran out of time (the thread then slept) */
};

void busy_poll_init(struct busy_poll *bp, int64_t window_ns);
/* The thread answered a device alone on it (PUBACKs): its next input is expected soon. */
void busy_poll_expect(struct busy_poll *bp, int64_t now_ns);
/* Input arrived on the thread: learns whether waiting for it by polling paid off. */
void busy_poll_input(struct busy_poll *bp, int64_t now_ns);
/* Whether the loop should poll rather than block at now_ns. */
bool busy_poll_should_spin(const struct busy_poll *bp, int64_t now_ns);
/* Runs base until event_base_loopbreak(), polling while busy_poll_should_spin() says so. */
void busy_poll_run(struct event_base *base, struct busy_poll *bp);

#endif
