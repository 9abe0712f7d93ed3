/* The preallocated tail of the active segment (docs/design/eventlog.md, "Preallocated
 * tail", invariant 16).
 *
 * An fdatasync after an append that grows the file must also write the inode (its size
 * and its new blocks). On the ext4 of the benchmark machine that makes a small commit cost
 * ~150 us, against ~85 us when the commit overwrites blocks already written and synced
 * (measured in the design doc). So in EVENTLOG_FSYNC mode the writer keeps zeros written
 * and synced ahead of the committed end, EL_ZERO_AHEAD bytes at a time, after a commit has
 * completed (the top-up never delays acknowledgements already due), and commits overwrite
 * them. Recovery keeps a tail of zeros as the free space it is (no frame starts with a zero
 * length), a sealed segment is cut to its records before the next one exists (roll.c) and
 * the active one at close, so a cleanly closed log has the files the format always had.
 * Preallocation is only a speed-up: nothing depends on it, and when it fails it is given
 * up until the next segment. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "format.h"
#include "internal.h"
#include "io.h"

static uint64_t committed_end(struct el_part *p)
{
    pthread_mutex_lock(&p->state_lock);
    uint64_t size = p->segs[p->nsegs - 1].size;
    pthread_mutex_unlock(&p->state_lock);
    return size;
}

/* The size the file should be topped up to, or 0 when it needs nothing now. */
static uint64_t zero_target(struct el_part *p)
{
    struct eventlog *log = p->log;
    if (log->durability != EVENTLOG_FSYNC || p->dirty_tail || p->must_roll || p->zeros_failed)
        return 0;
    uint64_t end = committed_end(p);
    if (p->file_size < end)
        p->file_size = end;
    if (p->file_size - end >= EL_ZERO_LOW)
        return 0;
    uint64_t target = end + EL_ZERO_AHEAD;
    if (target > log->segment_bytes)
        target = log->segment_bytes;
    return target > p->file_size ? target : 0;
}

bool zero_tail_wanted(struct el_part *p)
{
    return zero_target(p) != 0;
}

void zero_tail_extend(struct el_part *p)
{
    uint64_t target = zero_target(p);
    if (target == 0)
        return;
    int rc = io_write_zeros(p->seg_fd, p->file_size, target);
    if (rc != 0) {
        /* Whatever reached the file is zeros past the committed end: harmless. */
        p->zeros_failed = true;
        log_warn("event log cannot preallocate; commits grow the file until the next segment",
                 "dir=%s error=\"%s\"", p->dir, strerror(-rc));
        return;
    }
    p->file_size = target;
}

void zero_tail_drop(struct el_part *p)
{
    if (p->seg_fd < 0 || p->nsegs == 0)
        return;
    uint64_t end = committed_end(p);
    if (p->file_size <= end && !p->zeros_failed)
        return;
    int rc = io_truncate(p->seg_fd, end);
    if (rc == 0)
        rc = io_datasync(p->seg_fd);
    if (rc != 0) {
        log_warn("event log cannot cut the preallocated tail; the next open keeps it",
                 "dir=%s error=\"%s\"", p->dir, strerror(-rc));
        return;
    }
    p->file_size = end;
}

int zero_tail_check(int fd, uint64_t from, uint64_t to)
{
    uint8_t buf[64 * 1024];
    while (from < to) {
        size_t want = to - from < sizeof(buf) ? (size_t)(to - from) : sizeof(buf);
        ssize_t n = pread(fd, buf, want, (off_t)from);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO; /* the file shrank under us */
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != 0)
                return 0;
        from += (uint64_t)n;
    }
    return 1;
}
