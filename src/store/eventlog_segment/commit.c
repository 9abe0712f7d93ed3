/* Group commit: one batch of appends becomes one pwritev and one fdatasync per segment it
 * lands in (two when it crosses a roll). A failed write or sync cuts the segment back to
 * its committed end, so nothing of a failed record stays, and fails the rest of the batch;
 * the next batch tries again. Invariants 10 to 13 of docs/design/eventlog.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "format.h"
#include "internal.h"
#include "io.h"
#include "record.h"

/* Cuts the active segment back to its committed end after a failed batch. */
static int fix_tail(struct el_part *p, uint64_t committed)
{
    int rc = io_truncate(p->seg_fd, committed);
    if (rc == 0)
        rc = io_datasync(p->seg_fd);
    p->dirty_tail = rc != 0;
    if (rc == 0)
        p->file_size = committed; /* the preallocated zeros went too (zero_tail.c) */
    if (rc != 0)
        log_error("event log cannot cut a failed batch", "dir=%s error=\"%s\"", p->dir,
                  strerror(-rc));
    return rc;
}

/* Whether len more bytes keep a segment of size bytes within max. */
static bool fits(uint64_t size, size_t len, uint64_t max)
{
    return size <= max && len <= max - size;
}

static int ensure_iov(struct el_part *p, size_t n)
{
    if (n <= p->iov_cap)
        return 0;
    size_t cap = p->iov_cap ? p->iov_cap * 2 : 256;
    if (cap < n)
        cap = n;
    struct iovec *grown = realloc(p->iov, cap * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    p->iov = grown;
    p->iov_cap = cap;
    return 0;
}

/* Appends the chunk's index entries to the index file (a cache: on failure the file is cut
 * back, or given up until the next segment; recovery rebuilds what is missing). */
static void append_index(struct el_part *p)
{
    if (p->idx_fd < 0 || p->pending.n == 0)
        return;
    uint8_t buf[64 * EL_IDX_ENTRY_SIZE];
    size_t done = 0;
    while (done < p->pending.n) {
        size_t k = p->pending.n - done < 64 ? p->pending.n - done : 64;
        for (size_t i = 0; i < k; i++)
            idx_encode_entry(buf + i * EL_IDX_ENTRY_SIZE, &p->pending.v[done + i]);
        int rc = io_pwrite_all(p->idx_fd, buf, k * EL_IDX_ENTRY_SIZE, p->idx_size);
        if (rc != 0) {
            if (io_truncate(p->idx_fd, p->idx_size) != 0) {
                close(p->idx_fd);
                p->idx_fd = -1;
            }
            return;
        }
        p->idx_size += k * EL_IDX_ENTRY_SIZE;
        done += k;
    }
}

/* Makes the chunk visible: segment summary, index, next_seq; then readers may read it. */
static void publish(struct el_part *p, uint64_t size, size_t n, uint64_t last_pos,
                    uint64_t last_offset, int64_t ms)
{
    pthread_mutex_lock(&p->state_lock);
    struct el_seg *seg = &p->segs[p->nsegs - 1];
    if (seg->count == 0)
        seg->first_ms = ms;
    seg->size = size;
    seg->count += n;
    seg->last_pos = last_pos;
    seg->last_ms = ms;
    for (size_t i = 0; i < p->pending.n; i++)
        if (idx_push(&p->active_idx, &p->pending.v[i]) != 0)
            break; /* a sparser index in memory: seeks scan further */
    p->next_seq += n;
    p->last_ms = ms;
    p->last_offset = last_offset;
    p->has_last = true;
    atomic_store(&p->committed_next, p->next_seq);
    el_check_partition(p);
    pthread_mutex_unlock(&p->state_lock);
}

/* Writes requests from *cursor into the active segment until it is full; advances
 * *cursor past the ones committed. 0, or a negative errno (nothing of the chunk kept). */
static int write_chunk(struct el_part *p, struct el_req **cursor, int64_t ms)
{
    struct eventlog *log = p->log;
    pthread_mutex_lock(&p->state_lock);
    struct el_seg act = p->segs[p->nsegs - 1];
    uint64_t last_idx_pos = p->active_idx.n ? p->active_idx.v[p->active_idx.n - 1].pos : 0;
    bool have_idx = p->active_idx.n > 0;
    pthread_mutex_unlock(&p->state_lock);

    uint64_t size = act.size, seq = p->next_seq, last_pos = 0, last_offset = 0;
    size_t n = 0;
    p->pending.n = 0;
    struct el_req *r = *cursor;
    for (; r; r = r->next) {
        bool first_in_segment = act.count == 0 && n == 0;
        if (!first_in_segment && !fits(size, r->len, log->segment_bytes))
            break;
        if (ensure_iov(p, n + 1) != 0) {
            if (n == 0)
                return -ENOMEM;
            break;
        }
        r->seq = seq++;
        r->offset = act.base_offset + (size - EL_SEG_HEADER_SIZE);
        r->ms = ms;
        record_seal(r->frame, act.seed, r->seq, ms);
        if (!have_idx || size - last_idx_pos >= EL_INDEX_INTERVAL) {
            struct idx_entry e = {r->seq, size, ms, 0};
            if (idx_push(&p->pending, &e) == 0) {
                last_idx_pos = size;
                have_idx = true;
            }
        }
        p->iov[n].iov_base = r->frame;
        p->iov[n].iov_len = r->len;
        last_pos = size;
        last_offset = r->offset;
        size += r->len;
        n++;
    }
    if (n == 0)
        return -EINVAL; /* never: commit_batch rolls first */
    int rc = io_pwritev_all(p->seg_fd, p->iov, (int)n, act.size);
    if (rc == 0 && log->durability == EVENTLOG_FSYNC)
        rc = io_datasync(p->seg_fd);
    if (rc != 0) {
        fix_tail(p, act.size);
        return rc;
    }
    if (size > p->file_size)
        p->file_size = size;
    publish(p, size, n, last_pos, last_offset, ms);
    append_index(p);
    *cursor = r;
    return 0;
}

void commit_batch(struct el_part *p, struct el_req *batch)
{
    struct eventlog *log = p->log;
    int64_t ms = el_now_ms();
    if (p->has_last && ms < p->last_ms)
        ms = p->last_ms;           /* the clock stepped back: times never decrease */
    struct el_req *cursor = batch; /* first request not committed */
    int status = 0;
    if (p->dirty_tail) {
        pthread_mutex_lock(&p->state_lock);
        uint64_t committed = p->segs[p->nsegs - 1].size;
        pthread_mutex_unlock(&p->state_lock);
        int rc = fix_tail(p, committed);
        if (rc != 0)
            status = el_status_from_errno(rc);
    }
    while (cursor && status == 0) {
        pthread_mutex_lock(&p->state_lock);
        struct el_seg act = p->segs[p->nsegs - 1];
        pthread_mutex_unlock(&p->state_lock);
        int rc;
        if (act.count > 0 && (p->must_roll || !fits(act.size, cursor->len, log->segment_bytes)))
            rc = roll_segment(p);
        else
            rc = write_chunk(p, &cursor, ms);
        if (rc != 0) {
            status = el_status_from_errno(rc);
            log_error("event log append failed", "dir=%s error=\"%s\"", p->dir, strerror(-rc));
        }
    }
    size_t bytes = 0;
    bool failed = false;
    for (struct el_req *r = batch; r;) {
        struct el_req *next = r->next;
        if (r == cursor)
            failed = true;
        bytes += r->len;
        if (r->done) {
            if (failed)
                r->done(r->ctx, status, 0, 0, 0);
            else
                r->done(r->ctx, 0, r->seq, r->offset, r->ms);
        }
        free(r);
        r = next;
    }
    if (log->batch_done)
        log->batch_done();
    pthread_mutex_lock(&p->qlock);
    p->qbytes -= bytes;
    pthread_mutex_unlock(&p->qlock);
    if (cursor != batch)
        wake_readers(p);
}
