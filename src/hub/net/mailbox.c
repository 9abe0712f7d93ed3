#include "hub/net/mailbox.h"

#include <event2/event.h>
#include <stdlib.h>

static void drain(struct mailbox *mb)
{
    pthread_mutex_lock(&mb->lock);
    struct mail *batch = mb->items;
    size_t n = mb->count, batch_cap = mb->cap;
    /* Swap arrays so posters keep appending while we run the batch without the lock. */
    mb->items = mb->spare;
    mb->cap = mb->spare_cap;
    mb->count = 0;
    mb->spare = NULL;
    mb->spare_cap = 0;
    mb->wake_pending = false;
    pthread_mutex_unlock(&mb->lock);

    for (size_t i = 0; i < n; i++)
        batch[i].fn(batch[i].obj, batch[i].arg1, batch[i].arg2);

    pthread_mutex_lock(&mb->lock);
    if (!mb->spare) {
        mb->spare = batch;
        mb->spare_cap = batch_cap;
    } else {
        free(batch);
    }
    pthread_mutex_unlock(&mb->lock);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain(arg);
}

int mailbox_init(struct mailbox *mb, struct event_base *base)
{
    *mb = (struct mailbox){0};
    if (pthread_mutex_init(&mb->lock, NULL) != 0)
        return -1;
    mb->wake = event_new(base, -1, 0, on_wake, mb);
    if (!mb->wake) {
        pthread_mutex_destroy(&mb->lock);
        return -1;
    }
    return 0;
}

/* The mutex stays valid (the struct outlives this) so that a late post fails cleanly. */
void mailbox_free(struct mailbox *mb)
{
    if (!mb->wake)
        return;
    drain(mb);
    pthread_mutex_lock(&mb->lock);
    mb->closed = true;
    free(mb->items);
    free(mb->spare);
    mb->items = mb->spare = NULL;
    mb->count = mb->cap = mb->spare_cap = 0;
    pthread_mutex_unlock(&mb->lock);
    event_free(mb->wake);
    mb->wake = NULL;
}

bool mailbox_pending(struct mailbox *mb)
{
    pthread_mutex_lock(&mb->lock);
    bool pending = mb->count > 0 && !mb->closed;
    pthread_mutex_unlock(&mb->lock);
    return pending;
}

/* Mailboxes a thread posted to with mailbox_post_deferred and has yet to wake. */
#define DEFERRED_MAX 16
static __thread struct mailbox *deferred[DEFERRED_MAX];
static __thread size_t ndeferred;

static int post(struct mailbox *mb, const struct mail *m, bool defer)
{
    pthread_mutex_lock(&mb->lock);
    if (mb->closed) {
        pthread_mutex_unlock(&mb->lock);
        return -1;
    }
    if (mb->count == mb->cap) {
        size_t cap = mb->cap ? mb->cap * 2 : 64;
        struct mail *grown = realloc(mb->items, cap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&mb->lock);
            return -1;
        }
        mb->items = grown;
        mb->cap = cap;
    }
    mb->items[mb->count++] = *m;
    bool wake = !mb->wake_pending;
    mb->wake_pending = true;
    pthread_mutex_unlock(&mb->lock);
    if (wake && defer && ndeferred < DEFERRED_MAX) {
        deferred[ndeferred++] = mb;
        wake = false;
    }
    /* event_active is thread-safe with evthread_use_pthreads(); once per burst. */
    if (wake)
        event_active(mb->wake, 0, 0);
    return 0;
}

int mailbox_post(struct mailbox *mb, const struct mail *m)
{
    return post(mb, m, false);
}

int mailbox_post_deferred(struct mailbox *mb, const struct mail *m)
{
    return post(mb, m, true);
}

void mailbox_wake_deferred(void)
{
    for (size_t i = 0; i < ndeferred; i++) {
        struct mailbox *mb = deferred[i];
        /* Under the lock: a mailbox freed since the post is closed, and its event gone. */
        pthread_mutex_lock(&mb->lock);
        if (!mb->closed && mb->wake)
            event_active(mb->wake, 0, 0);
        pthread_mutex_unlock(&mb->lock);
    }
    ndeferred = 0;
}
