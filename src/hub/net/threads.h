/* Network threads. Each owns one libevent base; a connection lives its whole life on one
 * thread, so the protocol code takes no locks. Every protocol endpoint attaches itself to
 * each thread before the threads start. */
#ifndef IOTHUB_HUB_NET_THREADS_H
#define IOTHUB_HUB_NET_THREADS_H

#include <pthread.h>
#include <stdbool.h>

#include "hub/net/busy_poll.h"
#include "hub/net/mailbox.h"

struct event;
struct event_base;
struct evhttp;
struct hub;
struct mqtt_thread;
struct amqp_thread;

struct net_thread {
    struct hub *hub;
    int index;
    pthread_t tid;
    bool started;
    struct event_base *base;
    /* Activated to stop the loop: an active event is remembered even when it is activated
     * before the loop runs, unlike event_base_loopbreak(), which a loop that has not started
     * yet would forget. */
    struct event *stop;
    struct mailbox mailbox;     /* work posted by other threads */
    struct busy_poll busy_poll; /* polling for a lone streaming device (busy_poll.h) */
    struct evhttp *http;        /* the REST endpoint on this thread, or NULL */
    struct mqtt_thread *mqtt;   /* the MQTT endpoint's state on this thread, or NULL */
    struct amqp_thread *amqp;   /* the AMQP endpoint's state on this thread, or NULL */
};

/* Creates hub->thread_count threads' state (bases, endpoints) without starting them. */
int net_threads_create(struct hub *hub, char *err, size_t errlen);
/* Starts every thread's loop. Signals stay blocked in these threads. */
int net_threads_start(struct hub *hub);
/* Asks every loop to stop and joins the threads. Mail posted afterwards (completions of
 * the event log while it closes) waits in the mailboxes. */
void net_threads_stop(struct hub *hub);
/* Stops (if still running) and frees every thread's state: connections closed, mailboxes
 * drained. Safe after a failed create or start. */
void net_threads_free(struct hub *hub);

#endif
