/* The writer thread of one partition: sleeps until appends arrive (an append signals only
 * when the writer is idle), takes the whole queue as one batch, commits it, tops up the
 * preallocated tail, and applies retention every EL_RETENTION_PERIOD_MS and after each roll.
 * While an appender commits inline (eventlog_flush) the writer waits for it to finish.
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

/* What the writer thread may do now (qlock held): something to commit or to top up, the
 * log closing, or retention due; and never while an inline commit holds the role (whose
 * end wakes the writer when it left any of these). next_retention_ms belongs to the role:
 * read only when nobody holds it. */
static bool writer_has_work(const struct el_part *p, bool retention)
{
    if (p->committing)
        return false;
    if (p->qhead || p->closing || p->zeros_wanted)
        return true;
    return retention && el_now_ms() >= p->next_retention_ms;
}

void *writer_main(void *arg)
{
    struct el_part *p = arg;
    struct eventlog *log = p->log;
    bool retention = log->retention_ms > 0 || log->retention_bytes > 0;
    for (;;) {
        pthread_mutex_lock(&p->qlock);
        while (!writer_has_work(p, retention)) {
            p->writer_idle = true;
            if (retention && !p->committing)
                wait_until(p, p->next_retention_ms);
            else
                pthread_cond_wait(&p->qcond, &p->qlock);
            p->writer_idle = false;
        }
        struct el_req *batch = p->qhead;
        p->qhead = p->qtail = NULL;
        p->committing = true;
        p->zeros_wanted = false;
        bool stop = p->closing && !batch;
        pthread_mutex_unlock(&p->qlock);
        if (batch)
            commit_batch(p, batch);
        if (stop) {
            zero_tail_drop(p); /* a cleanly closed segment ends with its last record */
            break;             /* keeps the role: nobody commits after close */
        }
        zero_tail_extend(p); /* after the completions: it never delays them */
        if (retention) {
            int64_t now = el_now_ms();
            if (now >= p->next_retention_ms) {
                retention_apply(p, now);
                p->next_retention_ms = now + EL_RETENTION_PERIOD_MS;
            }
        }
        pthread_mutex_lock(&p->qlock);
        p->committing = false;
        pthread_mutex_unlock(&p->qlock);
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
