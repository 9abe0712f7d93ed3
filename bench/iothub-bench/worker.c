/* A worker thread: one epoll set, its share of the connections, of the connect rate and of
 * the message rate. The loop: open connections due, refill the rate budget, give queued
 * connections their turn to publish, sweep timeouts once a second, wait for events. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"
#include "mqtt/mqtt.h"

#define MAX_EVENTS 512
#define NS         1000000000LL

static void read_phase(struct worker *w)
{
    const struct bench_opts *o = w->b->o;
    w->win_start = atomic_load_explicit(&w->b->win_start, memory_order_acquire);
    w->win_end = atomic_load_explicit(&w->b->win_end, memory_order_acquire);
    w->publishing = !o->idle && (w->win_end == 0 || w->now < w->win_end);
}

static void start_connects(struct worker *w)
{
    size_t allowed = w->nconns;
    if (w->connect_rate > 0) {
        double due = w->connect_rate * (double)(w->now - w->t0) / NS + 1;
        if (due < (double)allowed)
            allowed = (size_t)due;
    }
    while (w->next_connect < allowed && w->pending < (size_t)w->max_pending)
        conn_start(w, &w->conns[w->next_connect++]);
}

static void refill(struct worker *w)
{
    if (w->rate <= 0)
        return;
    double burst = w->rate / 20 > 1 ? w->rate / 20 : 1; /* at most 50 ms worth */
    w->tokens += w->rate * (double)(w->now - w->last_refill) / NS;
    if (w->tokens > burst)
        w->tokens = burst;
    w->last_refill = w->now;
}

/* Each connection queued now gets one turn (those that queue again wait for the next); with
 * --rate, the turns go round the queue while the budget lasts. */
static void serve_run_queue(struct worker *w)
{
    struct conn *c = w->run_head, *end = w->run_tail;
    while (c && (w->rate <= 0 || w->tokens >= 1)) {
        struct conn *next = c->run_next;
        w->run_head = next;
        if (!next)
            w->run_tail = NULL;
        c->runnable = false;
        c->run_next = NULL;
        publish_pump(w, c);
        if (c == end)
            break;
        c = next;
    }
}

static bool finished(const struct worker *w)
{
    if (atomic_load(&w->b->stop))
        return true;
    if (w->win_end == 0 || w->now < w->win_end)
        return false;
    if (w->b->o->idle || w->inflight == 0)
        return true;
    return w->now >= w->win_end + (int64_t)(w->b->o->drain * NS);
}

static int wait_ms(const struct worker *w)
{
    if (w->run_head)
        return w->rate <= 0 || w->tokens >= 1 ? 0 : 1;
    int64_t until = w->next_sweep;
    if (w->next_connect < w->nconns && w->pending < (size_t)w->max_pending) {
        if (w->connect_rate <= 0)
            return 0;
        int64_t due = w->t0 + (int64_t)((double)w->next_connect / w->connect_rate * NS);
        if (due < until)
            until = due;
    }
    if (w->win_end > w->now && w->win_end < until)
        until = w->win_end;
    int64_t ms = (until - w->now + 999999) / 1000000;
    return ms < 0 ? 0 : ms > 100 ? 100 : (int)ms;
}

/* DISCONNECT to every live connection, then close it. */
static void disconnect_all(struct worker *w)
{
    for (size_t i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (c->state == CS_ACTIVE) {
            w->st.unacked_end += c->inflight;
            if (!c->blocked) {
                size_t n = mqtt_encode_empty(c->out + c->out_len, c->out_cap - c->out_len,
                                             MQTT_DISCONNECT);
                c->out_len += (uint32_t)n;
                conn_flush(w, c);
            }
        }
        conn_close(w, c);
        free(c->ring);
        free(c->topic);
        c->ring = NULL;
        c->topic = NULL;
    }
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[MAX_EVENTS];
    w->t0 = w->last_refill = w->now = mono_ns();
    w->next_sweep = w->now + NS;
    for (;;) {
        w->now = mono_ns();
        read_phase(w);
        start_connects(w);
        refill(w);
        serve_run_queue(w);
        if (w->now >= w->next_sweep) {
            for (size_t i = 0; i < w->next_connect; i++)
                conn_sweep(w, &w->conns[i]);
            w->next_sweep = w->now + NS;
        }
        if (finished(w))
            break;
        int n = epoll_wait(w->epfd, evs, MAX_EVENTS, wait_ms(w));
        for (int i = 0; i < n; i++)
            conn_event(w, evs[i].data.ptr, evs[i].events);
    }
    disconnect_all(w);
    return NULL;
}
