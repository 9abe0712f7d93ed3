/* Rolling: seal the active segment (its data synced, its index given the trailer entry and
 * synced) and start the next one (created crash-safely, named by the next sequence number,
 * its base offset continuing the partition's offsets). Invariants 3, 6 and 12 of
 * docs/design/eventlog.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "format.h"
#include "internal.h"
#include "io.h"
#include "segment.h"

/* Writes the trailer: in place over the last entry when that already names the newest
 * record, else appended; falls back to rewriting the whole index. */
static void write_trailer(struct el_part *p, const struct el_seg *act)
{
    struct idx_entry trailer = {act->first_seq + act->count - 1, act->last_pos, act->last_ms,
                                EL_IDX_FLAG_LAST};
    const struct idx_array *idx = &p->active_idx; /* only the writer changes it */
    bool in_place = idx->n > 0 && idx->v[idx->n - 1].pos == act->last_pos;
    if (p->idx_fd >= 0) {
        uint64_t at = in_place ? p->idx_size - EL_IDX_ENTRY_SIZE : p->idx_size;
        uint8_t buf[EL_IDX_ENTRY_SIZE];
        idx_encode_entry(buf, &trailer);
        int rc = io_pwrite_all(p->idx_fd, buf, sizeof(buf), at);
        if (rc == 0)
            rc = io_datasync(p->idx_fd);
        if (rc == 0) {
            p->idx_size = at + EL_IDX_ENTRY_SIZE;
            return;
        }
    }
    struct idx_array whole = {0};
    for (size_t i = 0; i < idx->n; i++)
        if (idx_push(&whole, &idx->v[i]) != 0)
            goto give_up;
    if (in_place)
        whole.n--;
    if (idx_push(&whole, &trailer) != 0)
        goto give_up;
    if (idx_write_file(p->dir, p->id, act->first_seq, &whole) == 0) {
        idx_free(&whole);
        return;
    }
give_up:
    idx_free(&whole);
    log_warn("event log index not sealed; rebuilt at next open", "dir=%s", p->dir);
}

int roll_segment(struct el_part *p)
{
    pthread_mutex_lock(&p->state_lock);
    struct el_seg act = p->segs[p->nsegs - 1];
    pthread_mutex_unlock(&p->state_lock);
    if (!p->must_roll) {
        /* Sealed segments end with their last record (9): the preallocated zeros go. */
        if (p->file_size != act.size || p->zeros_failed) {
            int rc = io_truncate(p->seg_fd, act.size);
            if (rc != 0)
                return rc;
            p->file_size = act.size;
        }
        /* Durable (the cut included) before the next segment exists, whatever the
         * durability mode. */
        int rc = io_datasync(p->seg_fd);
        if (rc != 0)
            return rc;
        write_trailer(p, &act);
        p->must_roll = true;
    }
    struct seg_header h = {p->id, p->next_seq, act.base_offset + (act.size - EL_SEG_HEADER_SIZE),
                           seg_new_seed()};
    int fd = seg_create(p->dir, &h);
    if (fd < 0)
        return fd;
    int ifd = idx_create(p->dir, p->id, h.first_seq);
    pthread_mutex_lock(&p->state_lock);
    if (p->nsegs == p->segcap) {
        size_t ncap = p->segcap ? p->segcap * 2 : 8;
        struct el_seg *grown = realloc(p->segs, ncap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&p->state_lock);
            close(fd);
            if (ifd >= 0)
                close(ifd);
            return -ENOMEM; /* the file is adopted by the next try or by recovery */
        }
        p->segs = grown;
        p->segcap = ncap;
    }
    p->segs[p->nsegs++] = (struct el_seg){.first_seq = h.first_seq,
                                          .base_offset = h.base_offset,
                                          .size = EL_SEG_HEADER_SIZE,
                                          .seed = h.seed};
    p->active_idx.n = 0;
    el_check_partition(p);
    pthread_mutex_unlock(&p->state_lock);
    close(p->seg_fd);
    if (p->idx_fd >= 0)
        close(p->idx_fd);
    p->seg_fd = fd;
    p->idx_fd = ifd;
    p->idx_size = EL_IDX_HEADER_SIZE;
    p->must_roll = false;
    p->file_size = EL_SEG_HEADER_SIZE;
    p->zeros_failed = false;
    if (p->log->retention_ms > 0 || p->log->retention_bytes > 0)
        p->next_retention_ms = 0; /* apply retention after this batch */
    return 0;
}
