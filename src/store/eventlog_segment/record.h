/* Record frames: the bytes of one event in a segment file.
 *
 *   len u32 | crc32c u32 | seq u64 | enqueued_ms i64 | system_count u32 | app_count u32 |
 *   system_count x (key_len u32, value_len u32, key, value) |
 *   app_count x (key_len u32, value_len u32, key, value) | body_len u32 | body
 *
 * len counts the bytes after the crc field (the "payload"); the CRC32C covers exactly them,
 * starting from the segment's seed (a random u32 in the segment header) instead of 0. The
 * seed keeps a frame that a device hides inside a message body from ever passing as a
 * record of the log, and keeps stale frames of other segments from passing in this one.
 * A frame is at most EVENTLOG_RECORD_MAX bytes in all. Little-endian throughout.
 *
 * The decoder treats every byte as hostile: record_check() bounds the length before it
 * looks further, checks the CRC, and then walks the payload checking every count and
 * length against what is left of the frame; it never allocates and never reads outside
 * buf[0..avail). The fuzz target fuzz/fuzz_eventlog_record.c drives it. */
#ifndef IOTHUB_STORE_EVENTLOG_SEGMENT_RECORD_H
#define IOTHUB_STORE_EVENTLOG_SEGMENT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "store/eventlog.h"

struct record_head {
    uint32_t frame_len; /* EL_FRAME_HEAD + payload */
    uint64_t seq;
    int64_t enqueued_ms;
    uint32_t system_count;
    uint32_t app_count;
    uint32_t body_len;
};

enum record_result {
    RECORD_OK = 0,
    RECORD_INCOMPLETE = 1,  /* the frame (or its length field) runs past avail */
    RECORD_BAD_LENGTH = -1, /* length field outside the bounds of a frame */
    RECORD_BAD_CRC = -2,    /* the payload does not match its CRC32C */
    RECORD_BAD_LAYOUT = -3, /* the CRC matches but counts and lengths disagree with len */
};

/* Checks the frame at buf[0..avail). On RECORD_OK fills *head; otherwise *why (when not
 * NULL) gets a static reason. */
int record_check(const uint8_t *buf, size_t avail, uint32_t seed, struct record_head *head,
                 const char **why);

/* Points props[0..system_count + app_count) and *body into buf. Only for a frame that
 * record_check() accepted with this head. */
void record_parse(const uint8_t *buf, const struct record_head *head, struct eventlog_prop *props,
                  const uint8_t **body);

/* The size of msg's frame in *size: 0, EVENTLOG_ERR_TOO_LARGE above EVENTLOG_RECORD_MAX, or
 * EVENTLOG_ERR_INVALID for a NULL pointer with a non-zero length or count. */
int record_encoded_size(const struct eventlog_message *msg, size_t *size);

/* Writes msg's frame into buf (exactly size bytes, from record_encoded_size) with seq,
 * enqueued time and CRC left zero; record_seal() fills them in. */
void record_encode(uint8_t *buf, size_t size, const struct eventlog_message *msg);
void record_seal(uint8_t *buf, uint32_t seed, uint64_t seq, int64_t enqueued_ms);

#endif
