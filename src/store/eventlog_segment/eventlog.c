/* The embedded event log: open (meta, partitions, recovery, writers), close, append and
 * partition info. The contract is store/eventlog.h; the design and invariants are in
 * docs/design/eventlog.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"
#include "io.h"
#include "record.h"

#define DEFAULT_PARTITIONS 4u

static const char *const status_names[] = {
    "ok",
    "no space left on the device",
    "write or sync failed",
    "record too large",
    "the log is closing",
    "invalid argument",
    "the log is damaged",
    "out of memory",
    "the append queue is full",
};

const char *eventlog_strerror(int status)
{
    if (status > 0 || -status >= (int)(sizeof(status_names) / sizeof(status_names[0])))
        return "unknown event log status";
    return status_names[-status];
}

int64_t el_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long el_find_seg(const struct el_part *p, uint64_t first_seq)
{
    size_t lo = 0, hi = p->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->segs[mid].first_seq < first_seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->nsegs && p->segs[lo].first_seq == first_seq ? (long)lo : -1;
}

int el_status_from_errno(int err)
{
    switch (-err) {
    case ENOSPC:
    case EDQUOT:
        return EVENTLOG_ERR_FULL;
    case ENOMEM:
        return EVENTLOG_ERR_NOMEM;
    default:
        return EVENTLOG_ERR_IO;
    }
}

static int check_options(const struct eventlog_options *o, char *err, size_t errlen)
{
    if (!o || !o->dir || !o->dir[0]) {
        snprintf(err, errlen, "no directory given");
        return -1;
    }
    if (strlen(o->dir) >= EL_PATH_MAX - 64) {
        snprintf(err, errlen, "directory name too long");
        return -1;
    }
    if (o->partitions > EL_PARTITIONS_MAX) {
        snprintf(err, errlen, "partitions %u out of range 1..%u", o->partitions, EL_PARTITIONS_MAX);
        return -1;
    }
    if (o->retention_ms < 0) {
        snprintf(err, errlen, "negative retention_ms");
        return -1;
    }
    if (o->segment_bytes != 0 &&
        (o->segment_bytes < EL_SEGMENT_MIN || o->segment_bytes > EL_SEGMENT_MAX)) {
        snprintf(err, errlen, "segment_bytes %" PRIu64 " out of range %llu..%llu", o->segment_bytes,
                 EL_SEGMENT_MIN, EL_SEGMENT_MAX);
        return -1;
    }
    if (o->durability != EVENTLOG_FSYNC && o->durability != EVENTLOG_NONE) {
        snprintf(err, errlen, "unknown durability mode %d", (int)o->durability);
        return -1;
    }
    return 0;
}

/* Takes {dir}/lock so that two processes never write one log. */
static int take_lock(const char *dir, char *err, size_t errlen)
{
    char path[EL_PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s: the log is in use by another process", path);
        close(fd);
        return -1;
    }
    return fd;
}

static int init_part(struct eventlog *log, uint32_t i)
{
    struct el_part *p = &log->parts[i];
    p->log = log;
    p->id = i;
    p->seg_fd = -1;
    p->idx_fd = -1;
    p->last_ms = INT64_MIN;
    int n = snprintf(p->dir, sizeof(p->dir), "%s/%u", log->dir, i);
    if (n < 0 || (size_t)n >= sizeof(p->dir))
        return -1;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&p->qcond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return -1;
    pthread_mutex_init(&p->qlock, NULL);
    pthread_mutex_init(&p->state_lock, NULL);
    pthread_mutex_init(&p->wait_lock, NULL);
    return 0;
}

static void free_part(struct el_part *p)
{
    if (p->seg_fd >= 0)
        close(p->seg_fd);
    if (p->idx_fd >= 0)
        close(p->idx_fd);
    free(p->segs);
    idx_free(&p->active_idx);
    idx_free(&p->pending);
    free(p->iov);
    pthread_cond_destroy(&p->qcond);
    pthread_mutex_destroy(&p->qlock);
    pthread_mutex_destroy(&p->state_lock);
    pthread_mutex_destroy(&p->wait_lock);
}

/* Creates the partitions and then the meta file of a new log (meta last: a log without
 * meta is one whose creation did not finish, and is created again). */
static int create_log(struct eventlog *log, char *err, size_t errlen)
{
    if (recovery_has_records(log->dir)) {
        snprintf(err, errlen, "%s/meta: missing, but the directory holds records", log->dir);
        return -1;
    }
    for (uint32_t i = 0; i < log->nparts; i++)
        if (recovery_create_partition(&log->parts[i], err, errlen) != 0)
            return -1;
    return meta_write(log->dir, log->nparts, err, errlen);
}

static void stop_writers(struct eventlog *log)
{
    for (uint32_t i = 0; i < log->nparts; i++) {
        struct el_part *p = &log->parts[i];
        pthread_mutex_lock(&p->qlock);
        p->closing = true;
        pthread_cond_signal(&p->qcond);
        pthread_mutex_unlock(&p->qlock);
    }
    for (uint32_t i = 0; i < log->nparts; i++) {
        struct el_part *p = &log->parts[i];
        if (p->writer_started)
            pthread_join(p->writer, NULL);
        p->writer_started = false;
    }
}

static void free_log(struct eventlog *log, uint32_t initialised)
{
    for (uint32_t i = 0; i < initialised; i++)
        free_part(&log->parts[i]);
    free(log->parts);
    if (log->lock_fd >= 0)
        close(log->lock_fd);
    free(log);
}

struct eventlog *eventlog_open(const struct eventlog_options *opts, char *err, size_t errlen)
{
    char scratch[8];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    if (check_options(opts, err, errlen) != 0)
        return NULL;
    int rc = io_mkdir(opts->dir);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot create: %s", opts->dir, strerror(-rc));
        return NULL;
    }
    struct eventlog *log = calloc(1, sizeof(*log));
    if (!log) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uint32_t initialised = 0;
    snprintf(log->dir, sizeof(log->dir), "%s", opts->dir);
    log->segment_bytes = opts->segment_bytes ? opts->segment_bytes : EL_SEGMENT_DEFAULT;
    log->retention_ms = opts->retention_ms;
    log->retention_bytes = opts->retention_bytes;
    log->durability = opts->durability;
    log->batch_done = opts->batch_done;
    log->lock_fd = take_lock(log->dir, err, errlen);
    if (log->lock_fd < 0)
        goto fail;
    uint32_t nparts;
    int found = meta_read(log->dir, &nparts, err, errlen);
    if (found < 0)
        goto fail;
    bool create = found == 1;
    if (create) {
        nparts = opts->partitions ? opts->partitions : DEFAULT_PARTITIONS;
    } else if (opts->partitions != 0 && opts->partitions != nparts) {
        snprintf(err, errlen, "%s has %u partitions; %u were asked for", log->dir, nparts,
                 opts->partitions);
        goto fail;
    }
    log->nparts = nparts;
    log->parts = calloc(nparts, sizeof(*log->parts));
    if (!log->parts) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (; initialised < nparts; initialised++) {
        if (init_part(log, initialised) != 0) {
            snprintf(err, errlen, "cannot initialise partition locks");
            goto fail;
        }
    }
    if (create && create_log(log, err, errlen) != 0)
        goto fail;
    for (uint32_t i = 0; i < nparts; i++)
        if (recovery_open_partition(&log->parts[i], err, errlen) != 0)
            goto fail;
    for (uint32_t i = 0; i < nparts; i++) {
        struct el_part *p = &log->parts[i];
        if (pthread_create(&p->writer, NULL, writer_main, p) != 0) {
            snprintf(err, errlen, "cannot start a writer thread");
            goto stop;
        }
        p->writer_started = true;
    }
    return log;
stop:
    stop_writers(log);
fail:
    free_log(log, initialised);
    return NULL;
}

void eventlog_close(struct eventlog *log)
{
    if (!log)
        return;
    stop_writers(log);
    free_log(log, log->nparts);
}

uint32_t eventlog_partition_count(const struct eventlog *log)
{
    return log->nparts;
}

static int append(struct eventlog *log, uint32_t partition, const struct eventlog_message *msg,
                  eventlog_done_fn done, void *ctx, bool wake_writer)
{
    if (!log || !msg || partition >= log->nparts)
        return EVENTLOG_ERR_INVALID;
    size_t size;
    int rc = record_encoded_size(msg, &size);
    if (rc != 0)
        return rc;
    struct el_req *req = malloc(sizeof(*req) + size);
    if (!req)
        return EVENTLOG_ERR_NOMEM;
    req->next = NULL;
    req->done = done;
    req->ctx = ctx;
    req->len = size;
    record_encode(req->frame, size, msg);
    struct el_part *p = &log->parts[partition];
    pthread_mutex_lock(&p->qlock);
    if (p->closing) {
        rc = EVENTLOG_ERR_CLOSED;
    } else if (size > EL_QUEUE_MAX_BYTES - p->qbytes) {
        rc = EVENTLOG_ERR_BUSY;
    } else {
        if (p->qtail)
            p->qtail->next = req;
        else
            p->qhead = req;
        p->qtail = req;
        p->qbytes += size;
        if (wake_writer && p->writer_idle)
            pthread_cond_signal(&p->qcond);
    }
    pthread_mutex_unlock(&p->qlock);
    if (rc != 0)
        free(req);
    return rc;
}

int eventlog_append(struct eventlog *log, uint32_t partition, const struct eventlog_message *msg,
                    eventlog_done_fn done, void *ctx)
{
    return append(log, partition, msg, done, ctx, true);
}

int eventlog_append_held(struct eventlog *log, uint32_t partition,
                         const struct eventlog_message *msg, eventlog_done_fn done, void *ctx)
{
    return append(log, partition, msg, done, ctx, false);
}

/* A caller that commits inline blocks for the disk. When one commit took longer than
 * INLINE_SLOW_US (a slow or saturated disk: an SD card, a busy host), the partition's
 * commits go back to its writer thread for INLINE_BACKOFF_US, so that the
 * caller's other work (its AMQP or HTTPS connections) does not wait behind the disk. */
#define INLINE_SLOW_US    2000
#define INLINE_BACKOFF_US 1000000

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void eventlog_flush(struct eventlog *log, uint32_t partition, bool may_commit)
{
    if (!log || partition >= log->nparts)
        return;
    struct el_part *p = &log->parts[partition];
    int64_t started = may_commit ? mono_us() : 0;
    pthread_mutex_lock(&p->qlock);
    /* Inline only while the writer sleeps with nothing to do: an awake writer takes the
     * queue itself in a moment, and a commit under way must finish first (one committer at
     * a time keeps the partition's records in append order). */
    if (!p->qhead || !may_commit || !p->writer_idle || p->committing || p->closing ||
        started < p->inline_off_until_us) {
        if (p->qhead && p->writer_idle && !p->committing) /* else the committer wakes it */
            pthread_cond_signal(&p->qcond);
        pthread_mutex_unlock(&p->qlock);
        return;
    }
    struct el_req *batch = p->qhead;
    p->qhead = p->qtail = NULL;
    p->committing = true;
    pthread_mutex_unlock(&p->qlock);

    commit_batch(p, batch);
    /* Topping up the preallocated zeros (~1 ms per 512 KiB) is the writer's: this caller
     * has its own work to get back to. */
    bool zeros = zero_tail_wanted(p);
    /* A roll in this batch makes retention due at once (roll.c). */
    bool retention =
        (log->retention_ms > 0 || log->retention_bytes > 0) && el_now_ms() >= p->next_retention_ms;

    int64_t ended = mono_us();

    pthread_mutex_lock(&p->qlock);
    p->committing = false;
    p->zeros_wanted = p->zeros_wanted || zeros;
    if (ended - started > INLINE_SLOW_US)
        p->inline_off_until_us = ended + INLINE_BACKOFF_US;
    if (p->writer_idle && (p->qhead || p->closing || p->zeros_wanted || retention))
        pthread_cond_signal(&p->qcond);
    pthread_mutex_unlock(&p->qlock);
}

int eventlog_partition_info(struct eventlog *log, uint32_t partition,
                            struct eventlog_partition_info *out)
{
    if (!log || !out || partition >= log->nparts)
        return EVENTLOG_ERR_INVALID;
    struct el_part *p = &log->parts[partition];
    pthread_mutex_lock(&p->state_lock);
    out->first_seq = p->segs[0].first_seq;
    out->empty = p->next_seq == out->first_seq;
    out->last_seq = p->next_seq ? p->next_seq - 1 : 0;
    out->last_offset = p->last_offset;
    out->last_enqueued_ms = p->has_last ? p->last_ms : 0;
    pthread_mutex_unlock(&p->state_lock);
    return 0;
}

int eventlog_apply_retention(struct eventlog *log, int64_t now_ms)
{
    if (!log)
        return EVENTLOG_ERR_INVALID;
    int total = 0, status = 0;
    for (uint32_t i = 0; i < log->nparts; i++) {
        int rc = retention_apply(&log->parts[i], now_ms);
        if (rc < 0 && status == 0)
            status = rc;
        else if (rc > 0)
            total += rc;
    }
    return status != 0 ? status : total;
}
