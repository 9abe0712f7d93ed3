/* The torn-tail rule: see tail.h and docs/design/eventlog.md (invariants 8 and 9). */
#include "tail.h"

#include <errno.h>

#include "format.h"
#include "store/eventlog.h"

/* Bounds the CRC work of the search for a later frame: hostile bytes can make many
 * positions look like frames; past the budget the damage is reported as corruption,
 * which is the safe answer. */
#define SEARCH_BUDGET_FACTOR 8u

/* Whether a frame that passes record_check() with a sequence number in [lo, lo + the most
 * records that fit] starts anywhere in (from, size). 1 yes (or the budget is spent), 0 no,
 * or SCAN_IO_ERROR (errno in s->err). */
static int later_frame(struct scan *s, uint64_t from, uint64_t lo)
{
    uint64_t span = s->size - from;
    uint64_t hi = lo + span / EL_FRAME_MIN + 1;
    uint64_t budget = SEARCH_BUDGET_FACTOR * span + 2u * EVENTLOG_RECORD_MAX;
    for (uint64_t q = from + 1; q < s->size && s->size - q >= EL_FRAME_MIN; q++) {
        const uint8_t *p;
        size_t avail;
        int rc = scan_peek(s, q, 16, &p, &avail);
        if (rc != 0) {
            if (rc != SCAN_IO_ERROR)
                s->err = rc;
            return SCAN_IO_ERROR;
        }
        if (avail < 16)
            return 0;
        uint32_t len = el_get32(p);
        uint64_t seq = el_get64(p + 8);
        if (len < EL_PAYLOAD_MIN || len > (uint32_t)EVENTLOG_RECORD_MAX - EL_FRAME_HEAD ||
            s->size - q - EL_FRAME_HEAD < len || seq < lo || seq > hi)
            continue;
        if (budget < len)
            return 1;
        budget -= len;
        struct record_head h;
        const uint8_t *frame;
        const char *why;
        rc = scan_record(s, q, &h, &frame, &why);
        if (rc == SCAN_IO_ERROR)
            return rc;
        if (rc == RECORD_OK)
            return 1;
    }
    return 0;
}

static int io_status(struct scan *s)
{
    return s->err == -ENOMEM ? EVENTLOG_ERR_NOMEM : EVENTLOG_ERR_IO;
}

int tail_scan(struct scan *s, struct tail_scan *t, struct idx_array *idx)
{
    uint64_t pos = t->pos, seq = t->seq;
    int64_t last_ms = t->min_ms;
    t->count = 0;
    t->torn = false;
    t->why = NULL;
    while (pos < s->size) {
        struct record_head h;
        const uint8_t *frame;
        const char *why;
        int rc = scan_record(s, pos, &h, &frame, &why);
        if (rc == SCAN_IO_ERROR)
            return io_status(s);
        if (rc == RECORD_OK && h.seq != seq) {
            rc = RECORD_BAD_LAYOUT;
            why = "sequence number out of order";
        } else if (rc == RECORD_OK && h.enqueued_ms < last_ms) {
            rc = RECORD_BAD_LAYOUT;
            why = "enqueued time goes backwards";
        }
        if (rc == RECORD_OK) {
            if (idx_wants(idx, pos)) {
                struct idx_entry e = {seq, pos, h.enqueued_ms, 0};
                if (idx_push(idx, &e) != 0)
                    return EVENTLOG_ERR_NOMEM;
            }
            t->last_pos = pos;
            t->count++;
            pos += h.frame_len;
            seq++;
            last_ms = h.enqueued_ms;
            continue;
        }
        t->bad_pos = pos;
        t->why = why;
        t->end = pos;
        t->next_seq = seq;
        t->last_ms = last_ms;
        /* A frame whose CRC matched was written by a writer of this segment: if it is out
         * of place, the log is damaged, never torn. */
        if (t->strict || rc == RECORD_BAD_LAYOUT)
            return EVENTLOG_ERR_CORRUPT;
        int later = later_frame(s, pos, seq);
        if (later < 0)
            return io_status(s);
        if (later > 0)
            return EVENTLOG_ERR_CORRUPT;
        t->torn = true;
        return 0;
    }
    t->end = pos;
    t->next_seq = seq;
    t->last_ms = last_ms;
    return 0;
}
