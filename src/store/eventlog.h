/* The event log: durable, partitioned, ordered device-to-cloud telemetry.
 *
 * This is the second narrow storage interface (the first is the registry). The embedded
 * backend is a segment log on local disk (eventlog_segment/); NATS JetStream will implement
 * the same header in cluster mode.
 *
 * Model: P partitions, fixed when the log is created (partition = stable hash of the device
 * id, so a device's messages keep their order). Each record gets a sequence number (per
 * partition, from 0, gapless), a byte offset (per partition, stable for the record's life),
 * and an enqueued time (ms since the epoch, assigned by the log, non-decreasing per
 * partition). A record holds two property lists (system and application, each an ordered
 * list of UTF-8 key/value pairs) and a binary body.
 *
 * Durability: eventlog_append() hands a record to the partition's writer; the writer thread
 * batches every record queued meanwhile into one write and one fdatasync (group commit) and
 * only then calls each record's completion. A completion with status 0 means the record is
 * on disk and will survive a crash. Records of one partition complete in append order.
 *
 * Threads: append and the reader functions may be called from any thread. Completions and
 * reader wake-ups run on the thread that commits the batch: the partition's writer thread,
 * or a caller of eventlog_flush(..., may_commit = true) inside that call. They must be quick
 * and must not call back into the log (post to your own thread instead). */
#ifndef IOTHUB_STORE_EVENTLOG_H
#define IOTHUB_STORE_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct eventlog;
struct eventlog_reader;

enum eventlog_durability {
    EVENTLOG_FSYNC = 0, /* default: fdatasync before completion */
    EVENTLOG_NONE = 1,  /* write(2) only; for benchmarks, named as such */
};

struct eventlog_options {
    const char *dir;          /* created when missing */
    uint32_t partitions;      /* used when the log is new; 1..32 */
    int64_t retention_ms;     /* drop whole segments older than this; 0 = keep forever */
    uint64_t retention_bytes; /* per partition; 0 = no cap */
    uint64_t segment_bytes;   /* roll to a new segment past this; 0 = 64 MiB */
    enum eventlog_durability durability;
    /* Optional: called on the committing thread after the completions of each batch, so that
     * completions can post their news without waking anyone and this wakes the receiving
     * threads once per batch instead of once per record. */
    void (*batch_done)(void);
};

enum eventlog_status {
    EVENTLOG_OK = 0,
    EVENTLOG_ERR_FULL = -1,      /* no space left: nothing of the record was kept */
    EVENTLOG_ERR_IO = -2,        /* other write or sync failure */
    EVENTLOG_ERR_TOO_LARGE = -3, /* record above EVENTLOG_RECORD_MAX */
    EVENTLOG_ERR_CLOSED = -4,    /* the log is closing */
    EVENTLOG_ERR_INVALID = -5,   /* bad argument (partition out of range, ...) */
    EVENTLOG_ERR_CORRUPT = -6,   /* a record failed its check where recovery cannot cut */
    EVENTLOG_ERR_NOMEM = -7,
    EVENTLOG_ERR_BUSY = -8, /* the partition's append queue is full: retry later */
};

#define EVENTLOG_RECORD_MAX (1024 * 1024)

const char *eventlog_strerror(int status);

/* Opens or creates the log. An existing log keeps its partition count (opts->partitions
 * must then be 0 or equal; else error naming both numbers). Recovery runs here: each
 * partition's last segment is checked from its last index point and a torn tail (a record
 * cut short or failing its CRC32C at the end) is truncated away. Damage in the last segment
 * with records after it is copied aside into "{segment}.damaged-{offset}-{ms}", logged as an
 * error naming both files, and then cut like a torn tail, so the hub starts. Damage in a
 * sealed segment or a segment header is an error naming the file and offset. On failure
 * returns NULL with a reason in err. */
struct eventlog *eventlog_open(const struct eventlog_options *opts, char *err, size_t errlen);
/* Completes every queued append (with its real status), stops the writers, frees the log.
 * Every reader of the log must be closed first. */
void eventlog_close(struct eventlog *log);

uint32_t eventlog_partition_count(const struct eventlog *log);
/* The stable hash of a device id to a partition (the same on every run and machine):
 * FNV-1a 32 of the id's bytes, modulo the partition count. */
uint32_t eventlog_partition_for(const struct eventlog *log, const char *device_id, size_t len);

struct eventlog_prop {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
};

struct eventlog_message {
    const struct eventlog_prop *system_props;
    size_t system_count;
    const struct eventlog_prop *app_props;
    size_t app_count;
    const uint8_t *body;
    size_t body_len;
};

/* Called once per appended record: status is 0 or a negative enum eventlog_status; seq,
 * offset and enqueued_ms are the record's when status is 0. */
typedef void (*eventlog_done_fn)(void *ctx, int status, uint64_t seq, uint64_t offset,
                                 int64_t enqueued_ms);

/* Copies msg into the partition's queue and returns 0 (done will be called), or a negative
 * status at once (done will not be called): EVENTLOG_ERR_BUSY when the partition already
 * holds 64 MiB of appends not yet completed. done may be NULL. */
int eventlog_append(struct eventlog *log, uint32_t partition, const struct eventlog_message *msg,
                    eventlog_done_fn done, void *ctx);

/* Like eventlog_append, but the partition's writer is not woken: the record waits for
 * eventlog_flush() on that partition, which the caller must call before it waits for
 * anything. A caller appending a burst (every PUBLISH of one socket read) makes it one batch
 * and pays for one hand-off instead of waking the writer at the first record. */
int eventlog_append_held(struct eventlog *log, uint32_t partition,
                         const struct eventlog_message *msg, eventlog_done_fn done, void *ctx);
/* Commits what waits in the partition's queue. With may_commit, when no commit of the
 * partition is under way, the calling thread commits the queue itself (write, fdatasync,
 * completions) before returning: no hand-off to the writer thread and back, at the price of
 * blocking the caller for the disk. Otherwise, or when a commit is under way, it wakes the
 * writer. */
void eventlog_flush(struct eventlog *log, uint32_t partition, bool may_commit);

struct eventlog_partition_info {
    bool empty;
    uint64_t first_seq; /* oldest retained */
    uint64_t last_seq;  /* newest committed (valid when !empty) */
    uint64_t last_offset;
    int64_t last_enqueued_ms;
};
int eventlog_partition_info(struct eventlog *log, uint32_t partition,
                            struct eventlog_partition_info *out);

/* Where a reader starts. */
enum eventlog_seek {
    EVENTLOG_SEEK_START = 0,  /* the oldest retained record */
    EVENTLOG_SEEK_END = 1,    /* after the newest: only records committed from now on */
    EVENTLOG_SEEK_SEQ = 2,    /* the record with this sequence number (or the next retained) */
    EVENTLOG_SEEK_OFFSET = 3, /* the record at this byte offset (or the next one) */
    EVENTLOG_SEEK_TIME = 4,   /* the first record with enqueued time >= value (ms) */
};

/* A reader of one partition. `inclusive` false skips the record the position names (for
 * SEQ and OFFSET: start after it; for TIME: enqueued time > value). */
struct eventlog_reader *eventlog_reader_open(struct eventlog *log, uint32_t partition,
                                             enum eventlog_seek seek, int64_t value, bool inclusive,
                                             int *status);
void eventlog_reader_close(struct eventlog_reader *r);

/* A record as read: every pointer is valid until the next call on this reader. */
struct eventlog_record {
    uint64_t seq;
    uint64_t offset;
    int64_t enqueued_ms;
    const uint8_t *body;
    size_t body_len;
    size_t system_count;
    size_t app_count;
    const struct eventlog_prop *system_props; /* arrays owned by the reader */
    const struct eventlog_prop *app_props;
};

/* Reads the next committed record: 1 when *out holds one, 0 when the reader is at the end
 * of what is committed, or a negative status. A record dropped by retention under a reader
 * makes it skip to the oldest retained record. */
int eventlog_reader_next(struct eventlog_reader *r, struct eventlog_record *out);

/* Asks for one call of fn(ctx) when records beyond the reader's position are committed
 * (or at once, from the calling thread, if they already are). No polling: the writer thread
 * calls fn after its fdatasync. One pending wake-up per reader; a new call replaces it, and
 * fn NULL cancels it. Once eventlog_reader_close() returns, fn is not called any more. */
typedef void (*eventlog_wake_fn)(void *ctx);
void eventlog_reader_wait(struct eventlog_reader *r, eventlog_wake_fn fn, void *ctx);

/* Why the reader's last call failed, naming the file and offset for EVENTLOG_ERR_CORRUPT
 * ("" when nothing failed). Valid until the next call on this reader. */
const char *eventlog_reader_error(const struct eventlog_reader *r);

/* Applies retention now (the writers also apply it periodically). Returns the number of
 * segments dropped, or a negative status. */
int eventlog_apply_retention(struct eventlog *log, int64_t now_ms);

#endif
