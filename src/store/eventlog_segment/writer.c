/* The writer thread of one partition: sleeps until appends arrive (an append signals only
 * when the writer is idle), takes the whole queue as one batch, commits it, and applies
 * retention every EL_RETENTION_PERIOD_MS and after each roll.
 *
 * Why one thread per partition: fdatasync blocks for the disk, not the CPU, so four
 * writers on two cores overlap their syncs (ext4's journal merges concurrent commits)
 * instead of queueing them; a slow partition never delays another; and each partition's
 * state has a single writer, which keeps its locking trivial. */
#include <errno.h>
#include <time.h>

#include "internal.h"

/* Waits on qcond until woken or until the realtime deadline deadline_ms. */
static void wait_until(struct el_part *p, int64_t deadline_ms)
{
    int64_t now = el_now_ms();
    if (deadline_ms <= now)
        return;
    int64_t wait_ms = deadline_ms - now;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(wait_ms / 1000);
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->qcond, &p->qlock, &ts);
}

void *writer_main(void *arg)
{
    struct el_part *p = arg;
    struct eventlog *log = p->log;
    bool retention = log->retention_ms > 0 || log->retention_bytes > 0;
    for (;;) {
        pthread_mutex_lock(&p->qlock);
        while (!p->qhead && !p->closing) {
            if (retention && el_now_ms() >= p->next_retention_ms)
                break;
            p->writer_idle = true;
            if (retention)
                wait_until(p, p->next_retention_ms);
            else
                pthread_cond_wait(&p->qcond, &p->qlock);
            p->writer_idle = false;
        }
        struct el_req *batch = p->qhead;
        p->qhead = p->qtail = NULL;
        bool stop = p->closing && !batch;
        pthread_mutex_unlock(&p->qlock);
        if (batch)
            commit_batch(p, batch);
        if (retention) {
            int64_t now = el_now_ms();
            if (now >= p->next_retention_ms) {
                retention_apply(p, now);
                p->next_retention_ms = now + EL_RETENTION_PERIOD_MS;
            }
        }
        if (stop) {
            zero_tail_drop(p); /* a cleanly closed segment ends with its last record */
            break;
        }
    }
    return NULL;
}

void wake_readers(struct el_part *p)
{
    pthread_mutex_lock(&p->wait_lock);
    struct eventlog_reader *r = p->waiters;
    p->waiters = NULL;
    while (r) {
        struct eventlog_reader *next = r->wnext;
        r->waiting = false;
        r->wnext = NULL;
        r->wake_fn(r->wake_ctx);
        r = next;
    }
    pthread_mutex_unlock(&p->wait_lock);
}
