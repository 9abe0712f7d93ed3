/* Internals of the embedded event log (segment backend), shared by its files only (and by
 * its unit tests and fuzz target).
 *
 * One struct el_part per partition, one writer thread per partition. The writer role (the
 * fields marked "writer" below, and committing a batch) is held by one thread at a time:
 * the writer thread, or a caller of eventlog_flush() committing inline; `committing` says
 * it is taken. Three locks, never nested in another order than listed:
 *   qlock      the append queue, writer_idle, committing, zeros_wanted, closing.
 *   state_lock the committed state: segment summaries, the active segment's index,
 *              next_seq and the last record. Held only for memory work (and for opening a
 *              segment file by name, so retention cannot unlink it in between).
 *   wait_lock  the readers' pending wake-ups; wake-ups are called with it held.
 * qlock and state_lock are never held together; wait_lock is taken alone.
 *
 * Fields marked "writer" are touched only by the holder of the writer role (and by open
 * and close, when no writer runs). See docs/design/eventlog.md for the invariants. */
#ifndef IOTHUB_STORE_EVENTLOG_SEGMENT_INTERNAL_H
#define IOTHUB_STORE_EVENTLOG_SEGMENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "index.h"
#include "scan.h"
#include "store/eventlog.h"

#define EL_PATH_MAX 1024

/* One appended record on its way to disk: a single allocation, frame inline. */
struct el_req {
    struct el_req *next;
    eventlog_done_fn done;
    void *ctx;
    uint64_t seq, offset; /* assigned by the writer */
    int64_t ms;
    size_t len;
    uint8_t frame[];
};

/* What the log knows about one segment file. */
struct el_seg {
    uint64_t first_seq;
    uint64_t base_offset; /* partition offset of the first record position */
    uint64_t size;        /* committed bytes of the file (header included) */
    uint64_t count;       /* committed records */
    uint64_t last_pos;    /* position of the newest record (count > 0) */
    int64_t first_ms;     /* enqueued time of the first record (count > 0) */
    int64_t last_ms;      /* of the newest (count > 0) */
    uint32_t seed;        /* the record CRC seed from the header */
};

struct el_part {
    struct eventlog *log;
    uint32_t id;
    char dir[EL_PATH_MAX];

    /* append queue (qlock) */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct el_req *qhead, *qtail;
    size_t qbytes;     /* frames queued or being written, bounded by EL_QUEUE_MAX_BYTES */
    bool writer_idle;  /* the writer thread waits on qcond: an append must signal */
    bool committing;   /* the writer role is taken (by the writer thread or inline) */
    bool zeros_wanted; /* an inline commit left the preallocated tail low (zero_tail.c) */
    /* after a slow inline commit, none until then (CLOCK_MONOTONIC, eventlog_flush) */
    int64_t inline_off_until_us;
    bool closing; /* no more appends; the writer drains and exits */
    pthread_t writer;
    bool writer_started;

    /* committed state (state_lock) */
    pthread_mutex_t state_lock;
    struct el_seg *segs; /* oldest first; segs[nsegs - 1] is the active segment */
    size_t nsegs, segcap;
    struct idx_array active_idx;         /* the active segment's index entries */
    uint64_t next_seq;                   /* sequence number the next commit gets */
    int64_t last_ms;                     /* enqueued time of the newest record (INT64_MIN: none) */
    uint64_t last_offset;                /* offset of the newest record */
    bool has_last;                       /* a record was ever committed */
    atomic_uint_fast64_t committed_next; /* next_seq, readable without the lock */

    /* pending reader wake-ups (wait_lock) */
    pthread_mutex_t wait_lock;
    struct eventlog_reader *waiters;

    /* writer */
    int seg_fd;         /* the active segment, O_RDWR */
    int idx_fd;         /* its index, -1 when it could not be kept up */
    uint64_t idx_size;  /* bytes of the index file that are good */
    bool must_roll;     /* the active segment got its trailer: next record rolls */
    bool dirty_tail;    /* a failed batch may have left bytes past the committed end */
    uint64_t file_size; /* of the active segment; bytes past the committed end are zeros */
    bool zeros_failed;  /* preallocation failed: not tried again in this segment */
    int64_t next_retention_ms;
    struct iovec *iov; /* scratch for a batch */
    size_t iov_cap;
    struct idx_array pending; /* index entries of the chunk being written */
};

struct eventlog {
    char dir[EL_PATH_MAX];
    uint32_t nparts;
    uint64_t segment_bytes;
    int64_t retention_ms;
    uint64_t retention_bytes;
    enum eventlog_durability durability;
    void (*batch_done)(void);
    int lock_fd;
    struct el_part *parts;
};

/* A reader position: the next record to return. */
struct el_pos {
    uint64_t seg_first; /* the segment it is in */
    uint64_t seg_base;
    uint32_t seed;
    uint64_t pos;      /* file position of the next record */
    uint64_t next_seq; /* its sequence number */
    int fd;            /* the segment, O_RDONLY, owned */
};

struct eventlog_reader {
    struct el_part *part;
    struct el_pos at;
    struct scan scan; /* window over at.fd */
    struct eventlog_prop *props;
    size_t props_cap;
    /* wake-up (wait_lock) */
    eventlog_wake_fn wake_fn;
    void *wake_ctx;
    bool waiting;
    struct eventlog_reader *wnext;
    char error[EL_PATH_MAX + 256];
};

/* ---- meta.c ---------------------------------------------------------------------- */
/* Reads {dir}/meta: 0 with *partitions, 1 when there is none, or -1 with err. */
int meta_read(const char *dir, uint32_t *partitions, char *err, size_t errlen);
/* Writes {dir}/meta once, crash-safely. 0 or -1 with err. */
int meta_write(const char *dir, uint32_t partitions, char *err, size_t errlen);

/* ---- recovery.c ------------------------------------------------------------------- */
/* Makes a new partition directory with an empty first segment. 0 or -1 with err. */
int recovery_create_partition(struct el_part *p, char *err, size_t errlen);
/* Loads p's directory, checks it and repairs a torn tail; fills the committed state and
 * the writer fields. 0, or a negative status with err naming the file and offset. */
int recovery_open_partition(struct el_part *p, char *err, size_t errlen);
/* Whether any segment under dir holds a record (to refuse creating a log over one). */
bool recovery_has_records(const char *dir);

/* ---- writer.c, commit.c, roll.c -------------------------------------------------- */
void *writer_main(void *arg);
/* Writes a batch (linked through next): assigns sequence numbers, offsets and times,
 * writes and syncs, publishes the committed state, then calls every completion in order,
 * frees the requests and calls the log's batch_done. The caller holds the writer role. */
void commit_batch(struct el_part *p, struct el_req *batch);
/* Seals the active segment and starts the next one. 0 or a negative errno. */
int roll_segment(struct el_part *p);
/* ---- zero_tail.c ------------------------------------------------------------------ */
/* Tops up the zeros ahead of the committed end (EVENTLOG_FSYNC only); after a commit. */
void zero_tail_extend(struct el_part *p);
/* Whether zero_tail_extend would write now. */
bool zero_tail_wanted(struct el_part *p);
/* Cuts the active segment to its committed end when zeros follow it (at close). */
void zero_tail_drop(struct el_part *p);
/* Whether fd's bytes [from, to) are all zero: 1 yes, 0 no, or a negative errno. */
int zero_tail_check(int fd, uint64_t from, uint64_t to);

/* Calls and clears every pending wake-up of p. */
void wake_readers(struct el_part *p);

/* ---- retention.c ---------------------------------------------------------------- */
/* Drops p's whole sealed segments past the retention limits. Count dropped or negative. */
int retention_apply(struct el_part *p, int64_t now_ms);

/* ---- seek.c ------------------------------------------------------------------------ */
/* Finds where a reader of p starts: 0 with *at (owning at->fd, which must be -1 on entry)
 * and scan pointed at that segment, or a negative status with err naming file and offset.
 * scan is the reader's window (its source reads at->fd). */
int seek_find(struct el_part *p, enum eventlog_seek how, int64_t value, bool inclusive,
              struct el_pos *at, struct scan *scan, char *err, size_t errlen);
/* Opens p's segment with this first sequence number for reading; state_lock held. */
int seg_open_locked(struct el_part *p, uint64_t first_seq);

/* ---- partition_hash.c ------------------------------------------------------------ */
/* FNV-1a, 32 bits: the partition hash (partition = hash % count). */
uint32_t eventlog_fnv1a32(const char *data, size_t len);

/* ---- invariants.c ---------------------------------------------------------------- */
/* Asserts the in-memory invariants of p in debug builds; state_lock held (or no writer). */
void el_check_partition(const struct el_part *p);

/* ---- helpers (eventlog.c) -------------------------------------------------------- */
int64_t el_now_ms(void);
/* Index of the segment with this first_seq, or -1; state_lock held. */
long el_find_seg(const struct el_part *p, uint64_t first_seq);
/* Status for a negative errno from a write or sync. */
int el_status_from_errno(int err);

#endif
