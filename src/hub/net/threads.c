#include "hub/net/threads.h"

#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "hub/amqp/endpoint.h"
#include "hub/hub.h"
#include "hub/mqtt/endpoint.h"
#include "hub/net/heap_trim.h"
#include "hub/rest/server.h"

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

int net_threads_create(struct hub *hub, char *err, size_t errlen)
{
    hub->threads = calloc((size_t)hub->thread_count, sizeof(*hub->threads));
    if (!hub->threads) {
        snprintf(err, errlen, "out of memory creating %d network threads", hub->thread_count);
        return -1;
    }
    for (int i = 0; i < hub->thread_count; i++) {
        struct net_thread *t = &hub->threads[i];
        t->hub = hub;
        t->index = i;
        t->base = event_base_new();
        busy_poll_init(&t->busy_poll, (int64_t)hub->cfg->busy_poll_us * 1000);
        t->stop = t->base ? event_new(t->base, -1, 0, on_stop, t->base) : NULL;
        if (!t->stop || mailbox_init(&t->mailbox, t->base) != 0) {
            snprintf(err, errlen, "cannot create the event loop of network thread %d", i);
            return -1;
        }
        if (hub->https_fd >= 0 && rest_server_attach(t, err, errlen) != 0)
            return -1;
        if (hub->mqtt && mqtt_thread_attach(t, err, errlen) != 0)
            return -1;
        if (hub->amqp && amqp_thread_attach(t, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static void *thread_main(void *arg)
{
    struct net_thread *t = arg;
    busy_poll_run(t->base, &t->busy_poll);
    const struct busy_poll *bp = &t->busy_poll;
    if (bp->found || bp->ran_out)
        log_info("busy polling for lone devices",
                 "thread=%d found=%llu ran_out=%llu window_us=%lld", t->index,
                 (unsigned long long)bp->found, (unsigned long long)bp->ran_out,
                 (long long)(bp->window_ns / 1000));
    /* The trim timer lives in this thread's thread-local storage, which goes with the
     * thread: take it out of the base, which the main thread tears down later. */
    heap_trim_cancel();
    return NULL;
}

int net_threads_start(struct hub *hub)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (int i = 0; i < hub->thread_count; i++) {
        struct net_thread *t = &hub->threads[i];
        if (pthread_create(&t->tid, NULL, thread_main, t) != 0) {
            log_error("cannot start a network thread", "thread=%d", i);
            rc = -1;
            break;
        }
        t->started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void net_threads_stop(struct hub *hub)
{
    if (!hub->threads)
        return;
    for (int i = 0; i < hub->thread_count; i++)
        if (hub->threads[i].stop)
            event_active(hub->threads[i].stop, 0, 0);
    for (int i = 0; i < hub->thread_count; i++) {
        struct net_thread *t = &hub->threads[i];
        if (t->started)
            pthread_join(t->tid, NULL);
        t->started = false;
    }
}

void net_threads_free(struct hub *hub)
{
    if (!hub->threads)
        return;
    net_threads_stop(hub);
    /* The loops have stopped: tear down here, in dependency order, in phases across all
     * threads, because closing a connection on one thread may post mail to another
     * (a method call waiting on a REST thread, a device connection elsewhere). */
    for (int i = 0; i < hub->thread_count; i++) {
        struct net_thread *t = &hub->threads[i];
        if (t->mqtt)
            mqtt_thread_detach(t);
        if (t->amqp)
            amqp_thread_detach(t);
        if (t->http) {
            evhttp_free(t->http);
            t->http = NULL;
        }
    }
    /* Freed bufferevents finish in deferred callbacks that hold the last reference to
     * their SSL and buffers; event_base_free would drop them unrun (and leak). Mail run
     * here may post more mail to any thread: repeat until every mailbox is empty. */
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < hub->thread_count; i++)
            for (int k = 0; k < 8 && hub->threads[i].base; k++)
                event_base_loop(hub->threads[i].base, EVLOOP_NONBLOCK);
        bool pending = false;
        for (int i = 0; i < hub->thread_count; i++)
            pending |= mailbox_pending(&hub->threads[i].mailbox);
        if (!pending)
            break;
    }
    for (int i = 0; i < hub->thread_count; i++) {
        struct net_thread *t = &hub->threads[i];
        mailbox_free(&t->mailbox);
        if (t->stop)
            event_free(t->stop);
        if (t->base)
            event_base_free(t->base);
    }
    free(hub->threads);
    hub->threads = NULL;
}
