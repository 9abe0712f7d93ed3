/* Opening a partition: list its segments, check every header and the chain of sequence
 * numbers and offsets, trust or rebuild each sealed segment's index, and scan the last
 * segment from its last good index point, cutting a torn tail (tail.h) or moving damage
 * aside (quarantine_tail). Invariants 1 to 9 and 12 of docs/design/eventlog.md are checked
 * here. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/isotime.h"
#include "common/log.h"
#include "format.h"
#include "internal.h"
#include "io.h"
#include "segment.h"
#include "tail.h"

/* What the segment being opened is, for checks and messages. */
struct seg_open {
    char path[EL_PATH_MAX + 32];
    int fd;
    struct el_seg *seg;
    const struct el_seg *prev; /* NULL for the oldest */
    int64_t min_ms;            /* newest enqueued time before this segment */
};

static int fail(char *err, size_t errlen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return status;
}

int recovery_create_partition(struct el_part *p, char *err, size_t errlen)
{
    int rc = io_mkdir(p->dir);
    if (rc != 0)
        return fail(err, errlen, EVENTLOG_ERR_IO, "%s: cannot create: %s", p->dir, strerror(-rc));
    struct seg_header h = {p->id, 0, 0, seg_new_seed()};
    int fd = seg_create(p->dir, &h);
    if (fd < 0)
        return fail(err, errlen, el_status_from_errno(fd), "%s: cannot create segment: %s", p->dir,
                    strerror(-fd));
    close(fd);
    fd = idx_create(p->dir, p->id, 0);
    if (fd >= 0)
        close(fd);
    return 0;
}

bool recovery_has_records(const char *dir)
{
    for (uint32_t i = 0; i < EL_PARTITIONS_MAX; i++) {
        char pdir[EL_PATH_MAX + 16];
        snprintf(pdir, sizeof(pdir), "%s/%u", dir, i);
        uint64_t *firsts;
        size_t n;
        if (seg_list(pdir, &firsts, &n) != 0)
            continue;
        bool found = false;
        for (size_t k = 0; k < n && !found; k++) {
            char path[EL_PATH_MAX + 48];
            if (seg_path(path, sizeof(path), pdir, firsts[k], ".log") != 0)
                continue;
            /* Any byte past the header but a preallocated zero tail (zero_tail.c). */
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            struct stat st;
            if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_size > EL_SEG_HEADER_SIZE)
                found = zero_tail_check(fd, EL_SEG_HEADER_SIZE, (uint64_t)st.st_size) != 1;
            if (fd >= 0)
                close(fd);
        }
        free(firsts);
        if (found)
            return true;
    }
    return false;
}

/* Reads and checks the header of so's file against its name and the previous segment. */
static int check_header(struct el_part *p, struct seg_open *so, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(so->fd, &st) != 0)
        return fail(err, errlen, EVENTLOG_ERR_IO, "%s: %s", so->path, strerror(errno));
    uint8_t buf[EL_SEG_HEADER_SIZE];
    ssize_t n = pread(so->fd, buf, sizeof(buf), 0);
    if (n < 0)
        return fail(err, errlen, EVENTLOG_ERR_IO, "%s: %s", so->path, strerror(errno));
    struct seg_header h;
    const char *why;
    if (seg_header_decode(buf, (size_t)n, &h, &why) != 0)
        return fail(err, errlen, EVENTLOG_ERR_CORRUPT, "%s: file offset 0: %s", so->path, why);
    if (h.partition != p->id || h.first_seq != so->seg->first_seq)
        return fail(err, errlen, EVENTLOG_ERR_CORRUPT,
                    "%s: file offset 0: header names partition %u first seq %" PRIu64
                    ", not partition %u first seq %" PRIu64,
                    so->path, h.partition, h.first_seq, p->id, so->seg->first_seq);
    if (so->prev && h.base_offset != so->prev->base_offset + so->prev->size - EL_SEG_HEADER_SIZE)
        return fail(err, errlen, EVENTLOG_ERR_CORRUPT,
                    "%s: file offset 24: base offset %" PRIu64
                    " does not follow the previous segment (%" PRIu64 ")",
                    so->path, h.base_offset,
                    so->prev->base_offset + so->prev->size - EL_SEG_HEADER_SIZE);
    if (h.base_offset > UINT64_MAX / 2)
        return fail(err, errlen, EVENTLOG_ERR_CORRUPT,
                    "%s: file offset 24: base offset %" PRIu64 " out of range", so->path,
                    h.base_offset);
    so->seg->base_offset = h.base_offset;
    so->seg->seed = h.seed;
    so->seg->size = (uint64_t)st.st_size;
    return 0;
}

/* Loads so's index file (O_RDONLY). 0 with entries (possibly none) or -1 when missing or
 * unusable; *complete as idx_decode. */
static int load_index(struct el_part *p, struct seg_open *so, uint64_t seg_size,
                      struct idx_array *arr, bool *complete)
{
    char path[EL_PATH_MAX + 48];
    *complete = false;
    if (seg_path(path, sizeof(path), p->dir, so->seg->first_seq, ".idx") != 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    const char *why = NULL;
    int rc = idx_read_fd(fd, p->id, so->seg->first_seq, seg_size, arr, complete, &why);
    close(fd);
    if (rc != 0)
        arr->n = 0;
    return rc == 0 ? 0 : -1;
}

/* Whether the record at e->pos is the one e describes. */
static bool entry_matches(struct scan *s, const struct idx_entry *e, uint32_t *frame_len)
{
    struct record_head h;
    const uint8_t *frame;
    const char *why;
    if (scan_record(s, e->pos, &h, &frame, &why) != RECORD_OK)
        return false;
    *frame_len = h.frame_len;
    return h.seq == e->seq && h.enqueued_ms == e->ms;
}

static void fill_summary(struct el_seg *seg, const struct idx_array *arr, uint64_t count,
                         uint64_t last_pos, int64_t last_ms)
{
    seg->count = count;
    if (count > 0) {
        seg->first_ms = arr->v[0].ms;
        seg->last_ms = last_ms;
        seg->last_pos = last_pos;
    }
}

static int corrupt_at(char *err, size_t errlen, const struct seg_open *so, uint64_t pos,
                      const char *why)
{
    return fail(err, errlen, EVENTLOG_ERR_CORRUPT,
                "%s: file offset %" PRIu64 " (partition offset %" PRIu64 "): %s", so->path, pos,
                so->seg->base_offset + (pos - EL_SEG_HEADER_SIZE), why);
}

static int scan_status(int rc, struct scan *s, const struct seg_open *so, const struct tail_scan *t,
                       char *err, size_t errlen)
{
    if (rc == EVENTLOG_ERR_CORRUPT)
        return corrupt_at(err, errlen, so, t->bad_pos, t->why);
    return fail(err, errlen, rc, "%s: read failed: %s", so->path, strerror(-s->err));
}

/* A sealed segment: trusted when its index is whole and its trailer names a record that
 * ends the file and precedes the next segment's first; else rebuilt by a strict scan. */
static int open_sealed(struct el_part *p, struct seg_open *so, uint64_t next_first, char *err,
                       size_t errlen)
{
    struct el_seg *seg = so->seg;
    struct idx_array arr = {0};
    bool complete;
    struct scan s;
    struct scan_source src = {scan_read_fd, &so->fd};
    scan_init(&s, &src, seg->size, seg->seed);
    int rc = 0;
    if (next_first < seg->first_seq) {
        rc =
            fail(err, errlen, EVENTLOG_ERR_CORRUPT,
                 "%s: segments overlap: the next one starts at seq %" PRIu64, so->path, next_first);
        goto out;
    }
    if (load_index(p, so, seg->size, &arr, &complete) == 0 && complete) {
        const struct idx_entry *last = arr.n ? &arr.v[arr.n - 1] : NULL;
        uint32_t frame_len;
        if (last && (last->flags & EL_IDX_FLAG_LAST) && last->seq + 1 == next_first &&
            arr.v[0].ms >= so->min_ms && entry_matches(&s, last, &frame_len) &&
            last->pos + frame_len == seg->size) {
            fill_summary(seg, &arr, next_first - seg->first_seq, last->pos, last->ms);
            goto out;
        }
    }
    log_warn("event log index rebuilt", "segment=%s", so->path);
    arr.n = 0;
    struct tail_scan t = {
        .pos = EL_SEG_HEADER_SIZE, .seq = seg->first_seq, .min_ms = so->min_ms, .strict = true};
    rc = tail_scan(&s, &t, &arr);
    if (rc != 0) {
        rc = scan_status(rc, &s, so, &t, err, errlen);
        goto out;
    }
    if (t.next_seq != next_first) {
        rc = fail(err, errlen, EVENTLOG_ERR_CORRUPT,
                  "%s: holds records up to seq %" PRIu64 " but the next segment starts at %" PRIu64,
                  so->path, t.next_seq, next_first);
        goto out;
    }
    fill_summary(seg, &arr, t.count, t.last_pos, t.last_ms);
    if (t.count > 0) {
        struct idx_entry *e = &arr.v[arr.n - 1];
        if (e->pos == t.last_pos) {
            e->flags |= EL_IDX_FLAG_LAST;
        } else {
            struct idx_entry trailer = {t.next_seq - 1, t.last_pos, t.last_ms, EL_IDX_FLAG_LAST};
            if (idx_push(&arr, &trailer) != 0) {
                rc = fail(err, errlen, EVENTLOG_ERR_NOMEM, "out of memory");
                goto out;
            }
        }
    }
    int wrc = idx_write_file(p->dir, p->id, seg->first_seq, &arr);
    if (wrc != 0)
        log_warn("event log index not written", "segment=%s error=%d", so->path, -wrc);
out:
    scan_free(&s);
    idx_free(&arr);
    return rc;
}

/* Picks the newest index entry whose record is really there; drops the ones after it. */
static void trust_index(struct scan *s, struct idx_array *arr, bool *changed)
{
    for (size_t k = 0; k < arr->n; k++) {
        if (arr->v[k].flags) {
            arr->v[k].flags = 0; /* a trailer in the last segment: it stays active */
            *changed = true;
        }
    }
    while (arr->n > 0) {
        uint32_t frame_len;
        if (entry_matches(s, &arr->v[arr->n - 1], &frame_len))
            return;
        arr->n--;
        *changed = true;
    }
}

/* Damage in the active segment with records after it: a crash that tore the unsynced last
 * batch out of order, or a disk that flipped bits in acknowledged records; the bytes cannot
 * tell which. Refusing to open would keep the whole hub down until an operator acts, and
 * cutting silently could drop acknowledged records. So the bytes from the damage on are
 * copied, synced, into "{segment}.damaged-{offset}-{ms}" next to the segment, an error is
 * logged naming both files, and the segment is then cut like a torn tail. Nothing is
 * destroyed: the copy keeps every byte for inspection or repair. */
static int quarantine_tail(struct el_part *p, const struct seg_open *so, uint64_t from, char *err,
                           size_t errlen)
{
    uint64_t size = so->seg->size;
    char path[EL_PATH_MAX + 96];
    snprintf(path, sizeof(path), "%s.damaged-%" PRIu64 "-%lld", so->path, from,
             (long long)time_now_ms());
    uint8_t *buf = malloc(size - from ? (size_t)(size - from) : 1);
    if (!buf)
        return fail(err, errlen, EVENTLOG_ERR_NOMEM, "out of memory");
    int rc = 0;
    ssize_t n = pread(so->fd, buf, (size_t)(size - from), (off_t)from);
    if (n != (ssize_t)(size - from)) {
        rc = fail(err, errlen, EVENTLOG_ERR_IO, "%s: cannot read the damaged bytes at %" PRIu64,
                  so->path, from);
        goto out;
    }
    int fd = io_open_new(path, O_WRONLY);
    if (fd < 0) {
        rc = fail(err, errlen, el_status_from_errno(fd), "%s: cannot create: %s", path,
                  strerror(-fd));
        goto out;
    }
    int wrc = io_pwrite_all(fd, buf, (size_t)(size - from), 0);
    if (wrc == 0)
        wrc = io_datasync(fd);
    close(fd);
    if (wrc == 0)
        wrc = io_fsync_dir(p->dir);
    if (wrc != 0) {
        rc = fail(err, errlen, el_status_from_errno(wrc), "%s: cannot write: %s", path,
                  strerror(-wrc));
        goto out;
    }
    log_error("event log damage moved aside: records from here on were not kept",
              "segment=%s file_offset=%" PRIu64 " bytes=%" PRIu64 " copy=%s", so->path, from,
              size - from, path);
out:
    free(buf);
    return rc;
}

/* The last (active) segment: scan from the last good index point, cut a torn tail. */
static int open_last(struct el_part *p, struct seg_open *so, char *err, size_t errlen)
{
    struct el_seg *seg = so->seg;
    struct idx_array arr = {0};
    bool complete = false, changed = false, quarantined = false;
    struct scan s;
    struct scan_source src = {scan_read_fd, &so->fd};
    scan_init(&s, &src, seg->size, seg->seed);
    if (load_index(p, so, seg->size, &arr, &complete) != 0 || !complete)
        changed = true;
    if (arr.n > 0 && arr.v[0].ms < so->min_ms) {
        arr.n = 0; /* times out of order with the previous segment: let the scan judge */
        changed = true;
    }
    trust_index(&s, &arr, &changed);
    size_t had = arr.n;
    struct tail_scan t = {.pos = EL_SEG_HEADER_SIZE, .seq = seg->first_seq, .min_ms = so->min_ms};
    if (arr.n > 0) {
        t.pos = arr.v[arr.n - 1].pos;
        t.seq = arr.v[arr.n - 1].seq;
        t.min_ms = arr.v[arr.n - 1].ms;
    }
    int rc = tail_scan(&s, &t, &arr);
    if (rc == EVENTLOG_ERR_CORRUPT && t.end >= EL_SEG_HEADER_SIZE) {
        rc = quarantine_tail(p, so, t.end, err, errlen);
        if (rc != 0)
            goto out;
        t.torn = true;
        quarantined = true;
    }
    if (rc != 0) {
        rc = scan_status(rc, &s, so, &t, err, errlen);
        goto out;
    }
    if (arr.n != had)
        changed = true;
    if (t.torn) {
        /* Zeros from the end of the records to the end of the file are the preallocated
         * tail (zero_tail.c): free space, cut without a warning (the writer preallocates
         * again). Anything else is a torn tail, or damage already moved aside. */
        int z = quarantined ? 0 : zero_tail_check(so->fd, t.end, seg->size);
        if (z < 0) {
            rc = fail(err, errlen, EVENTLOG_ERR_IO, "%s: cannot read at %" PRIu64 ": %s", so->path,
                      t.end, strerror(-z));
            goto out;
        }
        if (z == 0)
            log_warn("event log torn tail cut",
                     "segment=%s offset=%" PRIu64 " bytes=%" PRIu64 " reason=\"%s\"", so->path,
                     t.end, seg->size - t.end, t.why);
        rc = io_truncate(so->fd, t.end);
        if (rc == 0)
            rc = io_datasync(so->fd);
        if (rc != 0) {
            rc = fail(err, errlen, el_status_from_errno(rc), "%s: cannot cut torn tail: %s",
                      so->path, strerror(-rc));
            goto out;
        }
        seg->size = t.end;
    }
    p->file_size = seg->size;
    uint64_t count = t.next_seq - seg->first_seq;
    fill_summary(seg, &arr, count, t.last_pos, t.last_ms);
    p->idx_fd = -1;
    if (changed) {
        int wrc = idx_write_file(p->dir, p->id, seg->first_seq, &arr);
        if (wrc != 0)
            log_warn("event log index not written", "segment=%s error=%d", so->path, -wrc);
        else
            changed = false;
    }
    if (!changed) {
        char path[EL_PATH_MAX + 48];
        if (seg_path(path, sizeof(path), p->dir, seg->first_seq, ".idx") == 0)
            p->idx_fd = open(path, O_WRONLY | O_CLOEXEC);
    }
    p->idx_size = EL_IDX_HEADER_SIZE + arr.n * EL_IDX_ENTRY_SIZE;
    p->active_idx = arr;
    arr = (struct idx_array){0};
    p->next_seq = t.next_seq;
out:
    scan_free(&s);
    idx_free(&arr);
    return rc;
}

static void set_last_record(struct el_part *p)
{
    p->has_last = false;
    p->last_ms = INT64_MIN;
    for (size_t i = p->nsegs; i-- > 0;) {
        const struct el_seg *seg = &p->segs[i];
        if (seg->count > 0) {
            p->has_last = true;
            p->last_ms = seg->last_ms;
            p->last_offset = seg->base_offset + (seg->last_pos - EL_SEG_HEADER_SIZE);
            return;
        }
    }
}

int recovery_open_partition(struct el_part *p, char *err, size_t errlen)
{
    uint64_t *firsts = NULL;
    size_t n = 0;
    int rc = seg_list(p->dir, &firsts, &n);
    if (rc != 0)
        return fail(err, errlen, rc == -ENOMEM ? EVENTLOG_ERR_NOMEM : EVENTLOG_ERR_IO,
                    "%s: cannot list: %s", p->dir, strerror(-rc));
    if (n == 0) {
        rc = fail(err, errlen, EVENTLOG_ERR_CORRUPT, "%s: no segment files", p->dir);
        goto free_firsts;
    }
    p->segs = calloc(n, sizeof(*p->segs));
    if (!p->segs) {
        rc = fail(err, errlen, EVENTLOG_ERR_NOMEM, "out of memory");
        goto free_firsts;
    }
    p->segcap = n;
    int64_t min_ms = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        bool last = i + 1 == n;
        struct seg_open so = {
            .seg = &p->segs[i], .prev = i ? &p->segs[i - 1] : NULL, .min_ms = min_ms};
        so.seg->first_seq = firsts[i];
        seg_path(so.path, sizeof(so.path), p->dir, firsts[i], ".log");
        so.fd = open(so.path, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (so.fd < 0) {
            rc = fail(err, errlen, EVENTLOG_ERR_IO, "%s: %s", so.path, strerror(errno));
            goto free_firsts;
        }
        rc = check_header(p, &so, err, errlen);
        if (rc == 0)
            rc = last ? open_last(p, &so, err, errlen)
                      : open_sealed(p, &so, firsts[i + 1], err, errlen);
        if (rc != 0 || !last)
            close(so.fd);
        if (rc != 0)
            goto free_firsts;
        if (last)
            p->seg_fd = so.fd;
        p->nsegs = i + 1;
        if (so.seg->count > 0)
            min_ms = so.seg->last_ms;
    }
    seg_remove_orphans(p->dir, firsts[0]);
    set_last_record(p);
    atomic_store(&p->committed_next, p->next_seq);
    el_check_partition(p);
free_firsts:
    free(firsts);
    return rc;
}
