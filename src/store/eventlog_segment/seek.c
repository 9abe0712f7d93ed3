/* Seeking: where a reader starts. Every seek is "the first record for which a monotone
 * predicate holds" (seq >= v, offset >= v, time >= v, or > for exclusive seeks), found in
 * three steps: the segment (from the summaries: the first whose newest record holds), the
 * index entry (binary search: the last entry that does not hold), then a scan of at most
 * EL_INDEX_INTERVAL bytes plus one record. Sequence numbers, offsets and enqueued times
 * all grow along a partition (invariants 2 to 4), which makes the predicates monotone. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"
#include "segment.h"

struct pred {
    enum eventlog_seek how;
    uint64_t u; /* SEQ, OFFSET */
    int64_t ms; /* TIME */
    bool inclusive;
};

static bool holds(const struct pred *pr, uint64_t seq, uint64_t offset, int64_t ms)
{
    switch (pr->how) {
    case EVENTLOG_SEEK_SEQ:
        return pr->inclusive ? seq >= pr->u : seq > pr->u;
    case EVENTLOG_SEEK_OFFSET:
        return pr->inclusive ? offset >= pr->u : offset > pr->u;
    case EVENTLOG_SEEK_TIME:
        return pr->inclusive ? ms >= pr->ms : ms > pr->ms;
    default:
        return true;
    }
}

static uint64_t offset_of(const struct el_seg *s, uint64_t pos)
{
    return s->base_offset + (pos - EL_SEG_HEADER_SIZE);
}

int seg_open_locked(struct el_part *p, uint64_t first_seq)
{
    char path[EL_PATH_MAX + 48];
    if (seg_path(path, sizeof(path), p->dir, first_seq, ".log") != 0)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

/* The last entry of v[0..n) for which pr does not hold; n when all hold. */
static size_t last_not_holding(const struct pred *pr, const struct el_seg *s,
                               const struct idx_entry *v, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (holds(pr, v[mid].seq, offset_of(s, v[mid].pos), v[mid].ms))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo == 0 ? n : lo - 1;
}

/* Scans the segment from (pos, seq) to the first record for which pr holds. */
static int scan_to(struct scan *scan, const struct pred *pr, const char *dir,
                   const struct el_seg *s, struct el_pos *at, char *err, size_t errlen)
{
    uint64_t pos = at->pos, seq = at->next_seq;
    while (pos < s->size) {
        struct record_head h;
        const uint8_t *frame;
        const char *why;
        int rc = scan_record(scan, pos, &h, &frame, &why);
        if (rc == RECORD_OK && h.seq != seq) {
            rc = RECORD_BAD_LAYOUT;
            why = "sequence number out of order";
        }
        if (rc != RECORD_OK) {
            snprintf(err, errlen,
                     "%s/%020" PRIu64 ".log: file offset %" PRIu64 " (partition offset %" PRIu64
                     "): %s",
                     dir, s->first_seq, pos, offset_of(s, pos), why);
            return rc == SCAN_IO_ERROR ? EVENTLOG_ERR_IO : EVENTLOG_ERR_CORRUPT;
        }
        if (holds(pr, h.seq, offset_of(s, pos), h.enqueued_ms)) {
            at->pos = pos;
            at->next_seq = seq;
            return 0;
        }
        pos += h.frame_len;
        seq++;
    }
    snprintf(err, errlen, "%s/%020" PRIu64 ".log: ends before the record its summary names", dir,
             s->first_seq);
    return EVENTLOG_ERR_CORRUPT;
}

int seek_find(struct el_part *p, enum eventlog_seek how, int64_t value, bool inclusive,
              struct el_pos *at, struct scan *scan, char *err, size_t errlen)
{
    struct pred pr = {how, (uint64_t)value, value, inclusive};
    if ((how == EVENTLOG_SEEK_SEQ || how == EVENTLOG_SEEK_OFFSET) && value < 0) {
        snprintf(err, errlen, "negative sequence number or offset");
        return EVENTLOG_ERR_INVALID;
    }
    if (how < EVENTLOG_SEEK_START || how > EVENTLOG_SEEK_TIME) {
        snprintf(err, errlen, "unknown seek %d", (int)how);
        return EVENTLOG_ERR_INVALID;
    }
    struct idx_entry start = {0};
    bool from_entry = false, sealed = false;
    int idx_fd = -1;
    pthread_mutex_lock(&p->state_lock);
    size_t i = 0;
    if (how == EVENTLOG_SEEK_END) {
        i = p->nsegs; /* nothing holds */
    } else if (how != EVENTLOG_SEEK_START) {
        for (; i < p->nsegs; i++) {
            const struct el_seg *s = &p->segs[i];
            if (s->count > 0 &&
                holds(&pr, s->first_seq + s->count - 1, offset_of(s, s->last_pos), s->last_ms))
                break;
        }
    }
    struct el_seg s;
    bool at_end = i == p->nsegs;
    if (at_end) {
        /* Past the newest record: at the committed end. */
        s = p->segs[p->nsegs - 1];
        at->pos = s.size;
        at->next_seq = p->next_seq;
    } else {
        s = p->segs[i];
        at->pos = EL_SEG_HEADER_SIZE;
        at->next_seq = s.first_seq;
        if (how != EVENTLOG_SEEK_START && !holds(&pr, s.first_seq, s.base_offset, s.first_ms)) {
            sealed = i + 1 < p->nsegs;
            if (!sealed) {
                size_t k = last_not_holding(&pr, &s, p->active_idx.v, p->active_idx.n);
                if (k < p->active_idx.n) {
                    start = p->active_idx.v[k];
                    from_entry = true;
                }
            } else {
                char path[EL_PATH_MAX + 48];
                if (seg_path(path, sizeof(path), p->dir, s.first_seq, ".idx") == 0)
                    idx_fd = open(path, O_RDONLY | O_CLOEXEC);
            }
        } else {
            how = EVENTLOG_SEEK_START; /* the segment's first record: no scan */
        }
    }
    int fd = seg_open_locked(p, s.first_seq);
    pthread_mutex_unlock(&p->state_lock);
    int rc = 0;
    if (fd < 0) {
        snprintf(err, errlen, "%s/%020" PRIu64 ".log: %s", p->dir, s.first_seq, strerror(-fd));
        rc = EVENTLOG_ERR_IO;
        goto close_idx;
    }
    at->fd = fd;
    at->seg_first = s.first_seq;
    at->seg_base = s.base_offset;
    at->seed = s.seed;
    struct scan_source src = {scan_read_fd, &at->fd};
    scan_reset(scan, &src, s.size, s.seed);
    if (at_end || how == EVENTLOG_SEEK_START)
        goto close_idx;
    if (sealed && idx_fd >= 0) {
        struct idx_array arr = {0};
        bool complete;
        const char *why;
        if (idx_read_fd(idx_fd, p->id, s.first_seq, s.size, &arr, &complete, &why) == 0) {
            size_t k = last_not_holding(&pr, &s, arr.v, arr.n);
            if (k < arr.n) {
                start = arr.v[k];
                from_entry = true;
            }
        }
        idx_free(&arr);
    }
    if (from_entry) {
        struct el_pos try = *at;
        try.pos = start.pos;
        try.next_seq = start.seq;
        if (scan_to(scan, &pr, p->dir, &s, &try, err, errlen) == 0) {
            *at = try;
            goto close_idx;
        }
        /* A stale or damaged index entry: scan the segment from its start instead. */
    }
    rc = scan_to(scan, &pr, p->dir, &s, at, err, errlen);
close_idx:
    if (idx_fd >= 0)
        close(idx_fd);
    return rc;
}
