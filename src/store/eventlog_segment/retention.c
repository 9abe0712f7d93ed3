/* Retention: drops whole sealed segments, oldest first, while the oldest one's newest
 * record is older than retention_ms or the partition is bigger than retention_bytes. The
 * active segment is never dropped (invariant 14 of docs/design/eventlog.md).
 *
 * Segments leave the list under state_lock first (readers then skip to the oldest kept
 * record; a reader that already has a dropped file open keeps a valid descriptor), and
 * their files are unlinked afterwards, oldest first, with the directory synced after each
 * segment so that a crash never leaves a gap in the chain. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "format.h"
#include "internal.h"
#include "io.h"
#include "segment.h"

static bool too_old(const struct el_seg *s, int64_t now_ms, int64_t retention_ms)
{
    if (retention_ms <= 0)
        return false;
    if (s->count == 0)
        return true; /* nothing in it to keep */
    if (now_ms < INT64_MIN + retention_ms)
        return false;
    return s->last_ms < now_ms - retention_ms;
}

static int unlink_segment(const char *dir, uint64_t first_seq)
{
    char path[EL_PATH_MAX + 48];
    if (seg_path(path, sizeof(path), dir, first_seq, ".log") != 0)
        return -ENAMETOOLONG;
    int rc = io_unlink(path);
    if (rc != 0 && rc != -ENOENT)
        return rc;
    rc = io_fsync_dir(dir);
    if (rc != 0)
        return rc;
    if (seg_path(path, sizeof(path), dir, first_seq, ".idx") == 0)
        io_unlink(path);
    return 0;
}

int retention_apply(struct el_part *p, int64_t now_ms)
{
    struct eventlog *log = p->log;
    pthread_mutex_lock(&p->state_lock);
    uint64_t total = 0;
    for (size_t i = 0; i < p->nsegs; i++)
        total += p->segs[i].size;
    size_t k = 0;
    while (k + 1 < p->nsegs) {
        const struct el_seg *s = &p->segs[k];
        bool big = log->retention_bytes > 0 && total > log->retention_bytes;
        if (!big && !too_old(s, now_ms, log->retention_ms))
            break;
        total -= s->size;
        k++;
    }
    uint64_t *victims = NULL;
    if (k > 0) {
        victims = malloc(k * sizeof(*victims));
        if (!victims) {
            pthread_mutex_unlock(&p->state_lock);
            return EVENTLOG_ERR_NOMEM;
        }
        for (size_t i = 0; i < k; i++)
            victims[i] = p->segs[i].first_seq;
        memmove(p->segs, p->segs + k, (p->nsegs - k) * sizeof(*p->segs));
        p->nsegs -= k;
    }
    el_check_partition(p);
    pthread_mutex_unlock(&p->state_lock);
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        int urc = unlink_segment(p->dir, victims[i]);
        if (urc != 0) {
            /* Stop: unlinking a newer one would leave a gap. The rest stay on disk, out of
             * the list, and are found (and dropped) again at the next open. */
            log_error("event log retention cannot remove a segment", "dir=%s error=%d", p->dir,
                      -urc);
            rc = EVENTLOG_ERR_IO;
            break;
        }
    }
    free(victims);
    return rc != 0 ? rc : (int)k;
}
