/* A network thread's mailbox: other threads (the event log's writers, REST handlers acting
 * on the registry) post work to the thread that owns a connection. Posting is a mutex and
 * an append; the owning thread is woken once per burst (the wake-up coalesces), then drains
 * everything posted meanwhile in one go. */
#ifndef IOTHUB_HUB_NET_MAILBOX_H
#define IOTHUB_HUB_NET_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct event;

struct mail {
    void (*fn)(void *obj, uint64_t arg1, int64_t arg2); /* runs on the owning thread */
    void *obj;
    uint64_t arg1;
    int64_t arg2;
};

struct mailbox {
    pthread_mutex_t lock;
    struct mail *items; /* posted, not yet drained */
    size_t count, cap;
    struct mail *spare; /* the drained array, reused */
    size_t spare_cap;
    bool wake_pending;
    bool closed; /* freed: posts fail (teardown, after every thread stopped) */
    struct event *wake;
};

int mailbox_init(struct mailbox *mb, struct event_base *base);
/* Runs whatever is still posted, then frees. */
void mailbox_free(struct mailbox *mb);
/* From any thread. Returns 0, or -1 when out of memory or the mailbox is freed (nothing
 * posted). */
int mailbox_post(struct mailbox *mb, const struct mail *m);
/* Posts like mailbox_post but leaves the wake-up to mailbox_wake_deferred() on the same
 * thread, so that a thread posting a burst to a few mailboxes wakes each of them once, at
 * the end, and the woken thread does not contend for the lock while the burst is posted.
 * (At most 16 mailboxes are held back; a post to a 17th wakes it at once.) */
int mailbox_post_deferred(struct mailbox *mb, const struct mail *m);
/* Wakes every mailbox this thread posted to with mailbox_post_deferred since the last call. */
void mailbox_wake_deferred(void);
/* True when mail waits to be run. */
bool mailbox_pending(struct mailbox *mb);

#endif
