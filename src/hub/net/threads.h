/* Network threads. Each owns one libevent base; a connection lives its whole life on one
 * thread, so the protocol code takes no locks. Every protocol endpoint attaches itself to
 * each thread before the threads start. */
#ifndef IOTHUB_HUB_NET_THREADS_H
#define IOTHUB_HUB_NET_THREADS_H

#include <pthread.h>

struct event_base;
struct evhttp;
struct hub;

struct net_thread {
    struct hub *hub;
    int index;
    pthread_t tid;
    struct event_base *base;
    struct evhttp *http; /* the REST endpoint on this thread, or NULL */
};

/* Creates hub->thread_count threads' state (bases, endpoints) without starting them. */
int net_threads_create(struct hub *hub, char *err, size_t errlen);
/* Starts every thread's loop. Signals stay blocked in these threads. */
int net_threads_start(struct hub *hub);
/* Asks every loop to stop, joins the threads and frees their state. Safe after a failed
 * create or start. */
void net_threads_stop(struct hub *hub);

#endif
