/* Debug-build checks of the in-memory state against the invariants of
 * docs/design/eventlog.md. These catch our own bugs, so they assert; they never look at disk
 * input (that is checked, with errors, where it is read). Compiled to nothing with NDEBUG. */
#include <assert.h>

#include "format.h"
#include "internal.h"

void el_check_partition(const struct el_part *p)
{
#ifdef NDEBUG
    (void)p;
#else
    assert(p->nsegs >= 1);
    for (size_t i = 0; i < p->nsegs; i++) {
        const struct el_seg *s = &p->segs[i];
        assert(s->size >= EL_SEG_HEADER_SIZE);
        /* 6: only the active segment may be empty. */
        assert(s->count > 0 || i + 1 == p->nsegs);
        if (s->count > 0) {
            assert(s->last_pos >= EL_SEG_HEADER_SIZE && s->last_pos + EL_FRAME_MIN <= s->size);
            assert(s->first_ms <= s->last_ms); /* 4 */
            assert(s->count <= (s->size - EL_SEG_HEADER_SIZE) / EL_FRAME_MIN);
        }
        if (i > 0) {
            const struct el_seg *prev = &p->segs[i - 1];
            assert(s->first_seq == prev->first_seq + prev->count);                         /* 2 */
            assert(s->base_offset == prev->base_offset + prev->size - EL_SEG_HEADER_SIZE); /* 3 */
            if (s->count > 0 && prev->count > 0)
                assert(s->first_ms >= prev->last_ms); /* 4 */
        }
    }
    const struct el_seg *act = &p->segs[p->nsegs - 1];
    assert(p->next_seq == act->first_seq + act->count); /* 2 */
    /* 16: the writer's file size covers the committed end (zeros, if any, lie past it). */
    assert(p->file_size >= act->size);
    /* 12: the active index names records of the active segment, in order. */
    for (size_t i = 0; i < p->active_idx.n; i++) {
        const struct idx_entry *e = &p->active_idx.v[i];
        assert(e->seq >= act->first_seq && e->seq < p->next_seq);
        assert(e->pos >= EL_SEG_HEADER_SIZE && e->pos < act->size);
        if (i > 0)
            assert(e->seq > e[-1].seq && e->pos > e[-1].pos && e->ms >= e[-1].ms);
    }
#endif
}
