/* Readers: a position in one partition, reading committed records with pread through a
 * window (scan.h) from sealed and live segments alike, never past the committed end, and
 * one-shot wake-ups that the writer calls after a commit. A reader is used by one thread
 * at a time. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "format.h"
#include "internal.h"
#include "segment.h"

static int reader_fail(struct eventlog_reader *r, int status)
{
    log_error("event log read failed", "error=\"%s\"", r->error);
    return status;
}

struct eventlog_reader *eventlog_reader_open(struct eventlog *log, uint32_t partition,
                                             enum eventlog_seek seek, int64_t value, bool inclusive,
                                             int *status)
{
    int st = EVENTLOG_ERR_INVALID;
    struct eventlog_reader *r = NULL;
    if (!log || partition >= log->nparts)
        goto fail;
    st = EVENTLOG_ERR_NOMEM;
    r = calloc(1, sizeof(*r));
    if (!r)
        goto fail;
    r->part = &log->parts[partition];
    r->at.fd = -1;
    struct scan_source src = {scan_read_fd, &r->at.fd};
    scan_init(&r->scan, &src, 0, 0);
    st = seek_find(r->part, seek, value, inclusive, &r->at, &r->scan, r->error, sizeof(r->error));
    if (st != 0) {
        if (st != EVENTLOG_ERR_INVALID)
            reader_fail(r, st);
        goto free_reader;
    }
    if (status)
        *status = 0;
    return r;
free_reader:
    if (r->at.fd >= 0)
        close(r->at.fd);
    scan_free(&r->scan);
    free(r);
fail:
    if (status)
        *status = st;
    return NULL;
}

static void unregister_locked(struct eventlog_reader *r)
{
    if (!r->waiting)
        return;
    for (struct eventlog_reader **pp = &r->part->waiters; *pp; pp = &(*pp)->wnext) {
        if (*pp == r) {
            *pp = r->wnext;
            break;
        }
    }
    r->waiting = false;
    r->wnext = NULL;
}

void eventlog_reader_close(struct eventlog_reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->part->wait_lock);
    unregister_locked(r);
    pthread_mutex_unlock(&r->part->wait_lock);
    if (r->at.fd >= 0)
        close(r->at.fd);
    scan_free(&r->scan);
    free(r->props);
    free(r);
}

const char *eventlog_reader_error(const struct eventlog_reader *r)
{
    return r ? r->error : "";
}

/* Moves r to the start of segs[i]; state_lock held (so the file cannot be unlinked
 * before it is open). 0 or a negative errno. */
static int switch_locked(struct eventlog_reader *r, size_t i)
{
    const struct el_seg *s = &r->part->segs[i];
    int fd = seg_open_locked(r->part, s->first_seq);
    if (fd < 0) {
        snprintf(r->error, sizeof(r->error), "%s/%020" PRIu64 ".log: %s", r->part->dir,
                 s->first_seq, strerror(-fd));
        return fd;
    }
    if (r->at.fd >= 0)
        close(r->at.fd);
    r->at = (struct el_pos){s->first_seq,       s->base_offset, s->seed,
                            EL_SEG_HEADER_SIZE, s->first_seq,   fd};
    struct scan_source src = {scan_read_fd, &r->at.fd};
    scan_reset(&r->scan, &src, s->size, s->seed);
    return 0;
}

/* Finds the committed end of r's segment, moving r on to the next segment when its own
 * is finished or dropped. 1 with *limit when a record may be read, 0 at the end of what is
 * committed, or a negative status. */
static int position(struct eventlog_reader *r, uint64_t *limit)
{
    struct el_part *p = r->part;
    int rc = 0;
    pthread_mutex_lock(&p->state_lock);
    for (;;) {
        long i = -1;
        if (r->at.next_seq < p->segs[0].first_seq) {
            /* Retention dropped our position: skip to the oldest record kept. */
            i = 0;
        } else if (el_find_seg(p, r->at.seg_first) < 0) {
            /* Our (finished) segment was dropped: the next one starts at next_seq. */
            i = el_find_seg(p, r->at.next_seq);
            if (i < 0) {
                snprintf(r->error, sizeof(r->error),
                         "%s: reader position (seq %" PRIu64 ") not found", p->dir, r->at.next_seq);
                rc = EVENTLOG_ERR_CORRUPT;
                goto out;
            }
        }
        if (i >= 0 && switch_locked(r, (size_t)i) != 0) {
            rc = EVENTLOG_ERR_IO;
            goto out;
        }
        long cur = el_find_seg(p, r->at.seg_first);
        if (cur < 0) {
            snprintf(r->error, sizeof(r->error), "%s: reader segment lost", p->dir);
            rc = EVENTLOG_ERR_CORRUPT;
            goto out;
        }
        const struct el_seg *s = &p->segs[cur];
        if (r->at.pos < s->size) {
            *limit = s->size;
            rc = 1;
            goto out;
        }
        if ((size_t)cur + 1 == p->nsegs)
            goto out; /* at the committed end */
        if (switch_locked(r, (size_t)cur + 1) != 0) {
            rc = EVENTLOG_ERR_IO;
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&p->state_lock);
    return rc;
}

static int ensure_props(struct eventlog_reader *r, size_t n)
{
    if (n <= r->props_cap)
        return 0;
    struct eventlog_prop *grown = realloc(r->props, n * sizeof(*grown));
    if (!grown)
        return -1;
    r->props = grown;
    r->props_cap = n;
    return 0;
}

int eventlog_reader_next(struct eventlog_reader *r, struct eventlog_record *out)
{
    if (!r || !out)
        return EVENTLOG_ERR_INVALID;
    r->error[0] = '\0';
    uint64_t limit;
    int rc = position(r, &limit);
    if (rc <= 0)
        return rc < 0 ? reader_fail(r, rc) : 0;
    scan_set_size(&r->scan, limit);
    struct record_head h;
    const uint8_t *frame;
    const char *why;
    rc = scan_record(&r->scan, r->at.pos, &h, &frame, &why);
    if (rc == RECORD_OK && h.seq != r->at.next_seq) {
        rc = RECORD_BAD_LAYOUT;
        why = "sequence number out of order";
    }
    if (rc != RECORD_OK) {
        snprintf(r->error, sizeof(r->error),
                 "%s/%020" PRIu64 ".log: file offset %" PRIu64 " (partition offset %" PRIu64
                 "): %s",
                 r->part->dir, r->at.seg_first, r->at.pos,
                 r->at.seg_base + (r->at.pos - EL_SEG_HEADER_SIZE), why);
        return reader_fail(r, rc == SCAN_IO_ERROR ? EVENTLOG_ERR_IO : EVENTLOG_ERR_CORRUPT);
    }
    /* At least one slot, so that the arrays handed out are never NULL plus an offset. */
    size_t nprops = (size_t)h.system_count + h.app_count;
    if (ensure_props(r, nprops ? nprops : 1) != 0) {
        snprintf(r->error, sizeof(r->error), "out of memory");
        return EVENTLOG_ERR_NOMEM;
    }
    const uint8_t *body;
    record_parse(frame, &h, r->props, &body);
    out->seq = h.seq;
    out->offset = r->at.seg_base + (r->at.pos - EL_SEG_HEADER_SIZE);
    out->enqueued_ms = h.enqueued_ms;
    out->body = body;
    out->body_len = h.body_len;
    out->system_count = h.system_count;
    out->app_count = h.app_count;
    out->system_props = r->props;
    out->app_props = r->props + h.system_count;
    r->at.pos += h.frame_len;
    r->at.next_seq++;
    return 1;
}

void eventlog_reader_wait(struct eventlog_reader *r, eventlog_wake_fn fn, void *ctx)
{
    if (!r)
        return;
    struct el_part *p = r->part;
    pthread_mutex_lock(&p->wait_lock);
    unregister_locked(r);
    /* The writer stores committed_next before it takes wait_lock to wake: either we see
     * the new value here, or it sees us in the list. */
    bool ready = atomic_load(&p->committed_next) > r->at.next_seq;
    if (fn && !ready) {
        r->wake_fn = fn;
        r->wake_ctx = ctx;
        r->wnext = p->waiters;
        p->waiters = r;
        r->waiting = true;
    }
    pthread_mutex_unlock(&p->wait_lock);
    if (fn && ready)
        fn(ctx);
}
