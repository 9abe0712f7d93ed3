/* The recovery rule for the records of one segment (design doc, invariants 8 and 9).
 *
 * Scanning from a known record boundary, every record must pass record_check(), carry the
 * next sequence number, and have an enqueued time no lower than the one before. At the
 * first record that fails, the rest of the image is a torn tail - the unsynced end of the
 * last batch, cut away - if and only if no frame passing record_check() with a plausible
 * later sequence number starts anywhere after it. Otherwise committed records follow the
 * damage, and the segment is corrupt. A strict scan (sealed segments) allows no tail.
 *
 * Pure over a struct scan: the same code runs on files at open and on memory in the
 * fuzzer. */
#ifndef IOTHUB_STORE_EVENTLOG_SEGMENT_TAIL_H
#define IOTHUB_STORE_EVENTLOG_SEGMENT_TAIL_H

#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "scan.h"

struct tail_scan {
    /* in */
    uint64_t pos;   /* a record boundary to start from */
    uint64_t seq;   /* the sequence number of the record there */
    int64_t min_ms; /* enqueued times may not go below this */
    bool strict;    /* every byte to the end must be good records */
    /* out */
    uint64_t end;      /* end of the last good record: the size to keep */
    uint64_t next_seq; /* sequence number after the last good record */
    int64_t last_ms;   /* enqueued time of the last good record (min_ms when none) */
    uint64_t last_pos; /* position of the last good record (valid when count > 0) */
    uint64_t count;    /* good records scanned */
    bool torn;         /* the bytes from end on are a torn tail */
    uint64_t bad_pos;  /* where the damage starts (torn or corrupt) */
    const char *why;   /* what is wrong there */
};

/* Scans from t->pos to the end of s's image, pushing an index entry into idx wherever
 * idx_wants() asks for one. 0 (clean, or t->torn), EVENTLOG_ERR_CORRUPT (t->bad_pos,
 * t->why), EVENTLOG_ERR_IO (s->err) or EVENTLOG_ERR_NOMEM. */
int tail_scan(struct scan *s, struct tail_scan *t, struct idx_array *idx);

#endif
