/* Giving back the heap pages a burst of new connections leaves free.
 *
 * A TLS handshake allocates and frees some 30 KB (record buffers, handshake state) among the
 * few KB each connection keeps, and glibc keeps the freed pages resident: after 10,000
 * connections arrive together, about 0.6 KB per connection is free memory that still counts
 * in the daemon's RSS. After a burst of HEAP_TRIM_BURST accepts on a thread, once accepts
 * pause for HEAP_TRIM_QUIET_MS (or HEAP_TRIM_MAX_WAIT_MS after the burst began, under a
 * steady stream), the thread calls malloc_trim(0), which returns whole free pages to the
 * kernel. One call costs milliseconds at 10,000 connections; it runs at most once per
 * burst. A no-op without glibc.
 *
 * State is per thread; everything runs on the thread that owns base. */
#ifndef IOTHUB_HUB_NET_HEAP_TRIM_H
#define IOTHUB_HUB_NET_HEAP_TRIM_H

#define HEAP_TRIM_BURST       64
#define HEAP_TRIM_QUIET_MS    1000
#define HEAP_TRIM_MAX_WAIT_MS 10000

struct event_base;

/* A connection was accepted on this thread's base. */
void heap_trim_note_accept(struct event_base *base);
/* The thread's last connection closed (or the thread is stopping): drops the pending trim,
 * so that no event of this module is left in base. */
void heap_trim_cancel(void);

#endif
