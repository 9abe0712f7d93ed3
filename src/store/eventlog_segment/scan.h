/* Reading records out of a segment image through a window buffer.
 *
 * The image is reached through a source (a file descriptor, or memory for the fuzzer and
 * tests) of a known size; a scan keeps one window of it in memory and reads the next one
 * with a single pread when a record is not inside the current window. Every record is
 * checked by record_check() with the segment's CRC seed. */
#ifndef IOTHUB_STORE_EVENTLOG_SEGMENT_SCAN_H
#define IOTHUB_STORE_EVENTLOG_SEGMENT_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct scan_source {
    /* Reads up to len bytes at pos into buf: the count read (short only at the end of the
     * image) or a negative errno. */
    long (*read)(void *ctx, uint8_t *buf, size_t len, uint64_t pos);
    void *ctx;
};

/* A scan result besides enum record_result: the source failed; errno in scan.err. */
#define SCAN_IO_ERROR (-100)

struct scan {
    struct scan_source src;
    uint64_t size; /* bytes of the image that may be read */
    uint32_t seed; /* the segment's CRC seed */
    int err;       /* negative errno after SCAN_IO_ERROR */
    uint8_t *buf;  /* the window, owned: image bytes [win_pos, win_pos + win_len) */
    size_t cap;
    uint64_t win_pos;
    size_t win_len;
};

void scan_init(struct scan *s, const struct scan_source *src, uint64_t size, uint32_t seed);
void scan_free(struct scan *s);
/* Points at a new source (dropping the window) or, with the same source, at a new size;
 * a grown image keeps the window, which only ever holds bytes below the old size. */
void scan_reset(struct scan *s, const struct scan_source *src, uint64_t size, uint32_t seed);
void scan_set_size(struct scan *s, uint64_t size);

/* Makes image bytes [pos, pos + want) available at *p, fewer (*avail) only at the end of
 * the image; want <= EVENTLOG_RECORD_MAX. 0, SCAN_IO_ERROR or -ENOMEM. */
int scan_peek(struct scan *s, uint64_t pos, size_t want, const uint8_t **p, size_t *avail);

/* Checks the record frame at pos: an enum record_result or SCAN_IO_ERROR. On RECORD_OK
 * *frame points at it (valid until the next call on s); otherwise *why says what failed. */
int scan_record(struct scan *s, uint64_t pos, struct record_head *head, const uint8_t **frame,
                const char **why);

/* A source reading a file descriptor (ctx points at the int). */
long scan_read_fd(void *ctx, uint8_t *buf, size_t len, uint64_t pos);

/* A source over memory (ctx points at a struct scan_mem). */
struct scan_mem {
    const uint8_t *data;
    size_t size;
};
long scan_read_mem(void *ctx, uint8_t *buf, size_t len, uint64_t pos);

#endif
