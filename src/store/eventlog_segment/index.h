/* Sparse indexes: {first_seq}.idx beside each segment.
 *
 * An entry maps a record's sequence number to its position in the segment file and its
 * enqueued time. A segment's first record always has an entry, then the first record at
 * or past every EL_INDEX_INTERVAL bytes after the previous entry. When a segment is
 * sealed its newest record gets an entry flagged EL_IDX_FLAG_LAST (the "trailer"), which
 * lets open learn a sealed segment's extent without reading it.
 *
 * The index is a cache: every entry carries its own CRC32C, entries are checked against
 * the segment when used, and a missing or bad index is rebuilt from the segment. */
#ifndef IOTHUB_STORE_EVENTLOG_SEGMENT_INDEX_H
#define IOTHUB_STORE_EVENTLOG_SEGMENT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct idx_entry {
    uint64_t seq;
    uint64_t pos; /* file position of the record's frame */
    int64_t ms;   /* its enqueued time */
    uint32_t flags;
};

/* A growable array of entries; owns v. Zero-initialised is empty. */
struct idx_array {
    struct idx_entry *v;
    size_t n, cap;
};

/* 0 or -ENOMEM. */
int idx_push(struct idx_array *a, const struct idx_entry *e);
void idx_free(struct idx_array *a);

void idx_encode_header(uint8_t out[EL_IDX_HEADER_SIZE], uint32_t partition, uint64_t first_seq);
void idx_encode_entry(uint8_t out[EL_IDX_ENTRY_SIZE], const struct idx_entry *e);

/* Decodes an index file image. The header must name this partition and first_seq (else -1
 * with *why). Entries are then taken while each passes its CRC and follows the rules:
 * the first is (first_seq, EL_SEG_HEADER_SIZE); seq and pos strictly increase and time
 * does not decrease; pos + EL_FRAME_MIN <= seg_size; flags only EL_IDX_FLAG_LAST, only on
 * the last entry. *complete tells whether the whole image was valid entries. 0, -1 (bad
 * header) or -ENOMEM. */
int idx_decode(const uint8_t *buf, size_t len, uint32_t partition, uint64_t first_seq,
               uint64_t seg_size, struct idx_array *out, bool *complete, const char **why);

/* Reads and decodes the index file open at fd (idx_decode rules); files larger than a
 * segment of seg_size bytes could need are refused. 0, -1 (bad) or a negative errno. */
int idx_read_fd(int fd, uint32_t partition, uint64_t first_seq, uint64_t seg_size,
                struct idx_array *out, bool *complete, const char **why);

/* Replaces dir/{first_seq}.idx crash-safely with the header and the entries of a. */
int idx_write_file(const char *dir, uint32_t partition, uint64_t first_seq,
                   const struct idx_array *a);

/* Creates (truncating) dir/{first_seq}.idx holding only the header, not synced, and returns
 * an O_WRONLY descriptor or a negative errno. */
int idx_create(const char *dir, uint32_t partition, uint64_t first_seq);

/* Whether a record at pos needs an entry, given the entries so far. */
bool idx_wants(const struct idx_array *a, uint64_t pos);

#endif
