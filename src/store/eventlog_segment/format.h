/* On-disk format of the embedded event log: constants, header layouts and little-endian
 * helpers. Everything on disk is little-endian and every structure carries a CRC32C. The
 * full description, with the invariants, is docs/design/eventlog.md. */
#ifndef IOTHUB_STORE_EVENTLOG_SEGMENT_FORMAT_H
#define IOTHUB_STORE_EVENTLOG_SEGMENT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EL_FORMAT_VERSION 1u

/* {dir}/meta: magic, version u32, partitions u32, reserved u32, crc32c u32 (over 0..19). */
#define EL_META_MAGIC "IOTHLOGM"
#define EL_META_SIZE  24

/* Segment header, at the start of every {first_seq}.log:
 *   0 magic "IOTHLOGS"   8 version u32   12 partition u32   16 first_seq u64
 *  24 base_offset u64   32 seed u32 (random; starts every record CRC of the segment)
 *  36 crc32c u32 over bytes 0..35 */
#define EL_SEG_MAGIC       "IOTHLOGS"
#define EL_SEG_HEADER_SIZE 40u

/* Index file {first_seq}.idx: a header, then fixed-size entries.
 * Header: 0 magic "IOTHLOGI"  8 version u32  12 partition u32  16 first_seq u64
 *        24 reserved u32 (0)  28 crc32c u32 over 0..27
 * Entry:  0 seq u64  8 pos u64  16 enqueued_ms i64  24 flags u32  28 crc32c u32 over 0..27 */
#define EL_IDX_MAGIC       "IOTHLOGI"
#define EL_IDX_HEADER_SIZE 32u
#define EL_IDX_ENTRY_SIZE  32u
#define EL_IDX_FLAG_LAST   1u /* the segment's newest record; only in a sealed segment */

/* An index entry every this many bytes of records (at the first record at or past it). */
#define EL_INDEX_INTERVAL (16u * 1024u)

/* A record frame (record.h): len u32, crc u32, then len bytes covered by the CRC. */
#define EL_FRAME_HEAD 8u
/* seq, enqueued_ms, system count, app count, body length. */
#define EL_PAYLOAD_MIN (8u + 8u + 4u + 4u + 4u)
#define EL_FRAME_MIN   (EL_FRAME_HEAD + EL_PAYLOAD_MIN)
/* One property costs its two u32 lengths at least. */
#define EL_PROP_MIN 8u

/* Default and bounds of segment_bytes. */
#define EL_SEGMENT_DEFAULT (64ull * 1024 * 1024)
#define EL_SEGMENT_MIN     4096ull
#define EL_SEGMENT_MAX     (1ull << 32)

/* Memory a partition's append queue may hold before append answers EVENTLOG_ERR_BUSY. */
#define EL_QUEUE_MAX_BYTES (64u * 1024u * 1024u)

/* The preallocated tail of the active segment (zero_tail.c): in EVENTLOG_FSYNC mode the
 * writer keeps zeros written and synced up to EL_ZERO_AHEAD bytes past the committed end,
 * topping them up once fewer than EL_ZERO_LOW remain. */
#define EL_ZERO_AHEAD (1024u * 1024u)
#define EL_ZERO_LOW   (512u * 1024u)

/* How often a writer applies retention when idle or busy. */
#define EL_RETENTION_PERIOD_MS 60000

#define EL_PARTITIONS_MAX 32u

static inline void el_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void el_put64(uint8_t *p, uint64_t v)
{
    el_put32(p, (uint32_t)v);
    el_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t el_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t el_get64(const uint8_t *p)
{
    return (uint64_t)el_get32(p) | (uint64_t)el_get32(p + 4) << 32;
}

#endif
