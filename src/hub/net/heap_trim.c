/* Trimming the heap after bursts of connections: see heap_trim.h. */
#include "hub/net/heap_trim.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common/isotime.h"
#include "common/log.h"

/* Static per-thread state: the timer is embedded, assigned to the thread's base on first use. */
static _Thread_local struct {
    struct event ev;
    struct event_base *base; /* ev is assigned to it; NULL before the first accept */
    unsigned accepts;        /* since the last trim */
    int64_t burst_start_ms;  /* when accepts reached HEAP_TRIM_BURST */
} trim;

static void on_quiet(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    unsigned accepts = trim.accepts;
    trim.accepts = 0;
#ifdef __GLIBC__
    int64_t start = time_now_ms();
    int released = malloc_trim(0);
    log_debug("heap trimmed after a burst of connections", "accepts=%u released=%d ms=%lld",
              accepts, released, (long long)(time_now_ms() - start));
#else
    (void)accepts;
#endif
}

void heap_trim_note_accept(struct event_base *base)
{
    if (trim.base != base) {
        if (trim.base)
            event_del(&trim.ev);
        if (event_assign(&trim.ev, base, -1, 0, on_quiet, NULL) != 0) {
            trim.base = NULL;
            return;
        }
        trim.base = base;
        trim.accepts = 0;
    }
    if (++trim.accepts < HEAP_TRIM_BURST)
        return;
    int64_t now = time_now_ms();
    if (trim.accepts == HEAP_TRIM_BURST)
        trim.burst_start_ms = now;
    /* Each accept pushes the trim back, up to the longest wait a burst may impose. */
    if (now - trim.burst_start_ms >= HEAP_TRIM_MAX_WAIT_MS &&
        event_pending(&trim.ev, EV_TIMEOUT, NULL))
        return;
    struct timeval tv = {HEAP_TRIM_QUIET_MS / 1000, (HEAP_TRIM_QUIET_MS % 1000) * 1000};
    event_add(&trim.ev, &tv);
}

void heap_trim_cancel(void)
{
    if (trim.base)
        event_del(&trim.ev);
    trim.base = NULL; /* the base may be freed next; the next accept assigns ev again */
    trim.accepts = 0;
}
