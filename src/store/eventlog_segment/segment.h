/* Segment files: names, the header, listing a partition directory, and creating a new
 * segment crash-safely.
 *
 * A partition directory holds {first_seq}.log (20 decimal digits, the sequence number of
 * the segment's first record) and its sparse index {first_seq}.idx. Files ending in .tmp
 * are leftovers of an interrupted creation and are removed when the directory is listed. */
#ifndef IOTHUB_STORE_EVENTLOG_SEGMENT_SEGMENT_H
#define IOTHUB_STORE_EVENTLOG_SEGMENT_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct seg_header {
    uint32_t partition;
    uint64_t first_seq;
    uint64_t base_offset; /* partition offset of the byte at EL_SEG_HEADER_SIZE */
    uint32_t seed;        /* initial value of every record CRC in the segment */
};

void seg_header_encode(uint8_t out[EL_SEG_HEADER_SIZE], const struct seg_header *h);
/* 0, or -1 with a static reason in *why (bad magic, version or CRC, or cut short). */
int seg_header_decode(const uint8_t *buf, size_t len, struct seg_header *h, const char **why);

/* "{dir}/{first_seq:020}{ext}"; -1 when it does not fit. */
int seg_path(char *out, size_t cap, const char *dir, uint64_t first_seq, const char *ext);

/* The first sequence numbers of dir's segment files, ascending, in a malloc'ed array
 * (*firsts, owned by the caller; NULL when *n == 0). Removes *.tmp leftovers. 0, or a
 * negative errno (-EEXIST for a name that parses twice, e.g. with a leading '+'). */
int seg_list(const char *dir, uint64_t **firsts, size_t *n);

/* Creates dir/{first_seq}.log holding only its header (written to a .tmp, fdatasync'ed,
 * renamed, directory fsync'ed) and returns an O_RDWR descriptor, or a negative errno. */
int seg_create(const char *dir, const struct seg_header *h);

/* Unlinks dir's index files of segments older than first_seq (left when retention was
 * interrupted between unlinking a segment and its index). */
void seg_remove_orphans(const char *dir, uint64_t first_seq);

/* A random seed for a new segment. */
uint32_t seg_new_seed(void);

#endif
