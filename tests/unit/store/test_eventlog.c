/* The embedded event log against its contract in store/eventlog.h: round trips, group
 * commit under concurrent appends, reopening, seeks, retention, reader wake-ups, a full
 * disk (through io.c's fault injection) and the bounded append queue. Each test gets its
 * own temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/eventlog.h"
#include "store/eventlog_segment/internal.h"
#include "store/eventlog_segment/io.h"
#include "store/scratch_dir.h"

/* ---- helpers ------------------------------------------------------------------------ */

struct fixture {
    char dir[64];
    struct eventlog_options opts;
    struct eventlog *log;
};

static struct eventlog *open_log(struct fixture *f)
{
    char err[512] = "";
    f->opts.dir = f->dir;
    struct eventlog *log = eventlog_open(&f->opts, err, sizeof(err));
    if (!log)
        fprintf(stderr, "eventlog_open: %s\n", err);
    assert_non_null(log);
    return log;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (scratch_dir_make(f->dir, sizeof(f->dir), "eventlog") != 0) {
        free(f);
        return -1;
    }
    f->opts.partitions = 2;
    f->opts.durability = EVENTLOG_FSYNC;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    io_fault_clear();
    eventlog_close(f->log);
    scratch_dir_remove(f->dir);
    free(f);
    return 0;
}

/* One append's completion, waited for by the test. */
struct done {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool called;
    int status;
    uint64_t seq, offset;
    int64_t ms;
};

static void done_init(struct done *d)
{
    memset(d, 0, sizeof(*d));
    pthread_mutex_init(&d->m, NULL);
    pthread_cond_init(&d->c, NULL);
}

static void done_fn(void *ctx, int status, uint64_t seq, uint64_t offset, int64_t ms)
{
    struct done *d = ctx;
    pthread_mutex_lock(&d->m);
    d->called = true;
    d->status = status;
    d->seq = seq;
    d->offset = offset;
    d->ms = ms;
    pthread_cond_signal(&d->c);
    pthread_mutex_unlock(&d->m);
}

static void done_wait(struct done *d)
{
    pthread_mutex_lock(&d->m);
    while (!d->called)
        pthread_cond_wait(&d->c, &d->m);
    pthread_mutex_unlock(&d->m);
}

static void done_free(struct done *d)
{
    pthread_mutex_destroy(&d->m);
    pthread_cond_destroy(&d->c);
}

/* Appends and waits: the completion's status (and *out when given). */
static int append_wait(struct eventlog *log, uint32_t part, const struct eventlog_message *msg,
                       struct done *out)
{
    struct done d;
    done_init(&d);
    int rc = eventlog_append(log, part, msg, done_fn, &d);
    if (rc == 0) {
        done_wait(&d);
        rc = d.status;
    }
    if (out)
        *out = d;
    done_free(&d);
    return rc;
}

static int append_body(struct eventlog *log, uint32_t part, const void *body, size_t len,
                       struct done *out)
{
    struct eventlog_message msg = {.body = body, .body_len = len};
    return append_wait(log, part, &msg, out);
}

/* A deterministic body for record i. */
static void fill_body(uint8_t *buf, size_t len, uint64_t i)
{
    uint32_t x = (uint32_t)(i * 2654435761u + 1);
    for (size_t k = 0; k < len; k++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[k] = (uint8_t)x;
    }
}

static size_t body_len_for(uint64_t i)
{
    return 50 + (size_t)((i * 7919) % 1500);
}

static struct eventlog_reader *reader_or_die(struct eventlog *log, uint32_t part,
                                             enum eventlog_seek seek, int64_t value, bool incl)
{
    int st = 99;
    struct eventlog_reader *r = eventlog_reader_open(log, part, seek, value, incl, &st);
    assert_int_equal(st, 0);
    assert_non_null(r);
    return r;
}

/* The seq of the next record r returns, or -1 at the end. */
static int64_t next_seq(struct eventlog_reader *r)
{
    struct eventlog_record rec;
    int rc = eventlog_reader_next(r, &rec);
    assert_true(rc == 0 || rc == 1);
    return rc == 1 ? (int64_t)rec.seq : -1;
}

/* ---- round trip ----------------------------------------------------------------------- */

static void check_props(const struct eventlog_prop *got, const struct eventlog_prop *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i].key_len, want[i].key_len);
        assert_int_equal(got[i].value_len, want[i].value_len);
        assert_memory_equal(got[i].key, want[i].key, want[i].key_len);
        if (want[i].value_len)
            assert_memory_equal(got[i].value, want[i].value, want[i].value_len);
    }
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    f->log = open_log(f);
    assert_int_equal(eventlog_partition_count(f->log), 2);

    struct eventlog_prop sys[] = {
        {"iothub-connection-device-id", 27, "dev-1", 5},
        {"content-type", 12, "application/json", 16},
        {"iothub-empty", 12, "", 0},
    };
    struct eventlog_prop app[] = {{"temp", 4, "21.5", 4}, {"k\xc3\xa9y", 4, "v\0x", 3}};
    size_t big_len = EVENTLOG_RECORD_MAX - 4096;
    uint8_t *big = malloc(big_len);
    assert_non_null(big);
    fill_body(big, big_len, 7);
    const char *json = "{\"temperature\":21.5}";
    struct eventlog_message msgs[] = {
        {sys, 3, app, 2, (const uint8_t *)json, strlen(json)},
        {NULL, 0, NULL, 0, NULL, 0}, /* empty everything */
        {sys, 1, NULL, 0, big, big_len},
        {NULL, 0, app, 2, (const uint8_t *)"x", 1},
    };
    struct done d[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(append_wait(f->log, 1, &msgs[i], &d[i]), 0);
        assert_int_equal(d[i].seq, (uint64_t)i);
        if (i > 0) {
            assert_true(d[i].offset > d[i - 1].offset);
            assert_true(d[i].ms >= d[i - 1].ms);
        }
    }
    assert_int_equal(d[0].offset, 0);

    struct eventlog_partition_info info;
    assert_int_equal(eventlog_partition_info(f->log, 1, &info), 0);
    assert_false(info.empty);
    assert_int_equal(info.first_seq, 0);
    assert_int_equal(info.last_seq, 3);
    assert_int_equal(info.last_offset, d[3].offset);
    assert_int_equal(info.last_enqueued_ms, d[3].ms);
    assert_int_equal(eventlog_partition_info(f->log, 0, &info), 0);
    assert_true(info.empty);

    struct eventlog_reader *r = reader_or_die(f->log, 1, EVENTLOG_SEEK_START, 0, true);
    for (int i = 0; i < 4; i++) {
        struct eventlog_record rec;
        assert_int_equal(eventlog_reader_next(r, &rec), 1);
        assert_int_equal(rec.seq, (uint64_t)i);
        assert_int_equal(rec.offset, d[i].offset);
        assert_int_equal(rec.enqueued_ms, d[i].ms);
        assert_int_equal(rec.system_count, msgs[i].system_count);
        assert_int_equal(rec.app_count, msgs[i].app_count);
        check_props(rec.system_props, msgs[i].system_props, msgs[i].system_count);
        check_props(rec.app_props, msgs[i].app_props, msgs[i].app_count);
        assert_int_equal(rec.body_len, msgs[i].body_len);
        if (rec.body_len)
            assert_memory_equal(rec.body, msgs[i].body, rec.body_len);
    }
    struct eventlog_record rec;
    assert_int_equal(eventlog_reader_next(r, &rec), 0);
    assert_string_equal(eventlog_reader_error(r), "");
    eventlog_reader_close(r);

    /* Limits and bad arguments fail at once, without a completion. */
    struct eventlog_message huge = {.body = big, .body_len = EVENTLOG_RECORD_MAX};
    assert_int_equal(eventlog_append(f->log, 0, &huge, done_fn, NULL), EVENTLOG_ERR_TOO_LARGE);
    struct eventlog_message bad = {.body = NULL, .body_len = 5};
    assert_int_equal(eventlog_append(f->log, 0, &bad, done_fn, NULL), EVENTLOG_ERR_INVALID);
    assert_int_equal(eventlog_append(f->log, 2, &msgs[0], done_fn, NULL), EVENTLOG_ERR_INVALID);
    int st = 0;
    assert_null(eventlog_reader_open(f->log, 2, EVENTLOG_SEEK_START, 0, true, &st));
    assert_int_equal(st, EVENTLOG_ERR_INVALID);
    assert_null(eventlog_reader_open(f->log, 0, EVENTLOG_SEEK_SEQ, -1, true, &st));
    assert_int_equal(st, EVENTLOG_ERR_INVALID);
    assert_string_equal(eventlog_strerror(EVENTLOG_ERR_FULL), "no space left on the device");
    assert_string_equal(eventlog_strerror(EVENTLOG_ERR_BUSY), "the append queue is full");
    assert_string_equal(eventlog_strerror(-100), "unknown event log status");
    free(big);
}

/* ---- concurrent appends ------------------------------------------------------------- */

#define THREADS         8
#define PER_THREAD      300
#define CONC_PARTITIONS 2

struct conc {
    struct eventlog *log;
    pthread_mutex_t m;
    pthread_cond_t c;
    /* completion order per partition */
    uint64_t order[CONC_PARTITIONS][THREADS * PER_THREAD];
    size_t norder[CONC_PARTITIONS];
    /* per thread, the seqs in completion order */
    uint64_t last_seq[THREADS];
    bool any[THREADS];
    int failures;
    size_t completed;
};

struct conc_ctx {
    struct conc *c;
    int thread;
    uint32_t part;
};

static void conc_done(void *ctx, int status, uint64_t seq, uint64_t offset, int64_t ms)
{
    (void)offset;
    (void)ms;
    struct conc_ctx *x = ctx;
    struct conc *c = x->c;
    pthread_mutex_lock(&c->m);
    if (status != 0)
        c->failures++;
    c->order[x->part][c->norder[x->part]++] = seq;
    /* A thread's appends complete in its append order. */
    if (c->any[x->thread] && seq <= c->last_seq[x->thread])
        c->failures++;
    c->any[x->thread] = true;
    c->last_seq[x->thread] = seq;
    c->completed++;
    pthread_cond_signal(&c->c);
    pthread_mutex_unlock(&c->m);
}

static struct conc_ctx ctxs[THREADS];

static void *conc_thread(void *arg)
{
    struct conc_ctx *x = arg;
    char body[64];
    for (int i = 0; i < PER_THREAD; i++) {
        int n = snprintf(body, sizeof(body), "thread %d message %d", x->thread, i);
        struct eventlog_prop app = {"i", 1, body, (size_t)n};
        struct eventlog_message msg = {NULL, 0, &app, 1, (const uint8_t *)body, (size_t)n};
        int rc;
        while ((rc = eventlog_append(x->c->log, x->part, &msg, conc_done, x)) == EVENTLOG_ERR_BUSY)
            usleep(1000);
        if (rc != 0) {
            pthread_mutex_lock(&x->c->m);
            x->c->failures++;
            pthread_mutex_unlock(&x->c->m);
        }
    }
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    struct fixture *f = *state;
    f->opts.segment_bytes = 64 * 1024; /* rolls while appending */
    f->log = open_log(f);
    struct conc *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->log = f->log;
    pthread_mutex_init(&c->m, NULL);
    pthread_cond_init(&c->c, NULL);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ctxs[i] = (struct conc_ctx){c, i, (uint32_t)(i % CONC_PARTITIONS)};
        assert_int_equal(pthread_create(&th[i], NULL, conc_thread, &ctxs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_lock(&c->m);
    while (c->completed < THREADS * PER_THREAD)
        pthread_cond_wait(&c->c, &c->m);
    pthread_mutex_unlock(&c->m);
    assert_int_equal(c->failures, 0);
    /* Per partition: completions in seq order, gapless from 0. */
    for (int p = 0; p < CONC_PARTITIONS; p++) {
        assert_int_equal(c->norder[p], THREADS / CONC_PARTITIONS * PER_THREAD);
        for (size_t i = 0; i < c->norder[p]; i++)
            assert_int_equal(c->order[p][i], i);
    }
    /* And every record reads back, in order, each thread's messages in its own order. */
    for (uint32_t p = 0; p < CONC_PARTITIONS; p++) {
        struct eventlog_reader *r = reader_or_die(f->log, p, EVENTLOG_SEEK_START, 0, true);
        int next[THREADS] = {0};
        struct eventlog_record rec;
        uint64_t n = 0;
        while (eventlog_reader_next(r, &rec) == 1) {
            assert_int_equal(rec.seq, n++);
            int t, i;
            char text[64];
            assert_true(rec.body_len < sizeof(text));
            memcpy(text, rec.body, rec.body_len);
            text[rec.body_len] = '\0';
            assert_int_equal(sscanf(text, "thread %d message %d", &t, &i), 2);
            assert_int_equal(i, next[t]++);
        }
        assert_int_equal(n, THREADS / CONC_PARTITIONS * PER_THREAD);
        eventlog_reader_close(r);
    }
    pthread_mutex_destroy(&c->m);
    pthread_cond_destroy(&c->c);
    free(c);
}

/* ---- reopen ---------------------------------------------------------------------------- */

static void test_reopen(void **state)
{
    struct fixture *f = *state;
    f->opts.segment_bytes = 8192;
    f->opts.durability = EVENTLOG_NONE;
    f->log = open_log(f);
    uint8_t body[2000];
    struct done d;
    for (uint64_t i = 0; i < 40; i++) {
        size_t len = body_len_for(i);
        fill_body(body, len, i);
        assert_int_equal(append_body(f->log, (uint32_t)(i % 2), body, len, &d), 0);
        assert_int_equal(d.seq, i / 2);
    }
    eventlog_close(f->log);
    f->log = NULL;

    /* The partition count is fixed at creation. */
    char err[512] = "";
    f->opts.partitions = 3;
    assert_null(eventlog_open(&f->opts, err, sizeof(err)));
    assert_non_null(strstr(err, "2 partitions"));
    assert_non_null(strstr(err, "3 were asked"));
    f->opts.partitions = 0;
    f->log = open_log(f);
    assert_int_equal(eventlog_partition_count(f->log), 2);

    /* A second process (here: a second open) is refused while the log is open. */
    assert_null(eventlog_open(&f->opts, err, sizeof(err)));
    assert_non_null(strstr(err, "in use"));

    for (uint32_t p = 0; p < 2; p++) {
        struct eventlog_reader *r = reader_or_die(f->log, p, EVENTLOG_SEEK_START, 0, true);
        struct eventlog_record rec;
        for (uint64_t k = 0; k < 20; k++) {
            uint64_t i = k * 2 + p;
            assert_int_equal(eventlog_reader_next(r, &rec), 1);
            assert_int_equal(rec.seq, k);
            fill_body(body, body_len_for(i), i);
            assert_int_equal(rec.body_len, body_len_for(i));
            assert_memory_equal(rec.body, body, rec.body_len);
        }
        assert_int_equal(eventlog_reader_next(r, &rec), 0);
        eventlog_reader_close(r);
    }
    /* Appends continue where the log left off. */
    assert_int_equal(append_body(f->log, 1, "z", 1, &d), 0);
    assert_int_equal(d.seq, 20);
    struct eventlog_partition_info info;
    assert_int_equal(eventlog_partition_info(f->log, 1, &info), 0);
    assert_int_equal(info.last_seq, 20);
}

/* ---- seeks -------------------------------------------------------------------------------- */

#define SEEK_RECORDS 400

struct known {
    uint64_t seq, offset;
    int64_t ms;
};

/* Appends SEEK_RECORDS records in bursts, a few ms apart so that times repeat and differ. */
static void fill_for_seeks(struct eventlog *log, struct known *k)
{
    uint8_t body[1600];
    struct done *d = calloc(SEEK_RECORDS, sizeof(*d));
    assert_non_null(d);
    for (uint64_t i = 0; i < SEEK_RECORDS; i++) {
        if (i % 40 == 0 && i > 0) {
            for (uint64_t j = i - 40; j < i; j++)
                done_wait(&d[j]);
            usleep(3000);
        }
        size_t len = body_len_for(i);
        fill_body(body, len, i);
        struct eventlog_message msg = {.body = body, .body_len = len};
        done_init(&d[i]);
        assert_int_equal(eventlog_append(log, 0, &msg, done_fn, &d[i]), 0);
    }
    for (uint64_t i = 0; i < SEEK_RECORDS; i++) {
        done_wait(&d[i]);
        assert_int_equal(d[i].status, 0);
        k[i] = (struct known){d[i].seq, d[i].offset, d[i].ms};
        assert_int_equal(k[i].seq, i);
        done_free(&d[i]);
    }
    free(d);
}

static void expect_seek(struct eventlog *log, enum eventlog_seek how, int64_t value, bool incl,
                        int64_t want)
{
    struct eventlog_reader *r = reader_or_die(log, 0, how, value, incl);
    int64_t got = next_seq(r);
    if (got != want)
        fprintf(stderr, "seek %d value %" PRId64 " incl %d: got %" PRId64 " want %" PRId64 "\n",
                (int)how, value, incl, got, want);
    assert_int_equal(got, want);
    /* Reading on continues gaplessly. */
    if (got >= 0 && got + 1 < SEEK_RECORDS)
        assert_int_equal(next_seq(r), got + 1);
    eventlog_reader_close(r);
}

static void check_all_seeks(struct eventlog *log, const struct known *k)
{
    expect_seek(log, EVENTLOG_SEEK_START, 0, true, 0);
    expect_seek(log, EVENTLOG_SEEK_END, 0, true, -1);
    for (int64_t i = 0; i < SEEK_RECORDS; i++) {
        expect_seek(log, EVENTLOG_SEEK_SEQ, i, true, i);
        expect_seek(log, EVENTLOG_SEEK_SEQ, i, false, i + 1 < SEEK_RECORDS ? i + 1 : -1);
        expect_seek(log, EVENTLOG_SEEK_OFFSET, (int64_t)k[i].offset, true, i);
        expect_seek(log, EVENTLOG_SEEK_OFFSET, (int64_t)k[i].offset, false,
                    i + 1 < SEEK_RECORDS ? i + 1 : -1);
        /* An offset inside a record names the next one. */
        expect_seek(log, EVENTLOG_SEEK_OFFSET, (int64_t)k[i].offset + 1, true,
                    i + 1 < SEEK_RECORDS ? i + 1 : -1);
    }
    expect_seek(log, EVENTLOG_SEEK_SEQ, SEEK_RECORDS + 5, true, -1);
    expect_seek(log, EVENTLOG_SEEK_OFFSET, INT64_MAX, true, -1);
    /* Times: the first record at or after each distinct time, and strictly after it. */
    for (int64_t i = 0; i < SEEK_RECORDS; i++) {
        if (i > 0 && k[i].ms == k[i - 1].ms)
            continue;
        int64_t after = i;
        while (after < SEEK_RECORDS && k[after].ms == k[i].ms)
            after++;
        expect_seek(log, EVENTLOG_SEEK_TIME, k[i].ms, true, i);
        expect_seek(log, EVENTLOG_SEEK_TIME, k[i].ms, false, after < SEEK_RECORDS ? after : -1);
        expect_seek(log, EVENTLOG_SEEK_TIME, k[i].ms - 1, false, i);
    }
    expect_seek(log, EVENTLOG_SEEK_TIME, INT64_MIN, true, 0);
    expect_seek(log, EVENTLOG_SEEK_TIME, k[SEEK_RECORDS - 1].ms, false, -1);
}

static int count_files(const char *dir, const char *ext)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -c '%s$'", dir, ext);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_seeks(void **state)
{
    struct fixture *f = *state;
    f->opts.partitions = 1;
    f->opts.durability = EVENTLOG_NONE;
    f->opts.segment_bytes = 64 * 1024; /* ~4 index entries per segment, ~6 segments */
    f->log = open_log(f);
    struct known *k = calloc(SEEK_RECORDS, sizeof(*k));
    assert_non_null(k);
    fill_for_seeks(f->log, k);
    char pdir[128];
    snprintf(pdir, sizeof(pdir), "%s/0", f->dir);
    assert_true(count_files(pdir, ".log") >= 5);
    /* Live: sealed segments through their index files, the active one from memory. */
    check_all_seeks(f->log, k);

    /* Reopened: every index from its file. */
    eventlog_close(f->log);
    f->log = open_log(f);
    check_all_seeks(f->log, k);

    /* Indexes lost: rebuilt at open, seeks unchanged. */
    eventlog_close(f->log);
    f->log = NULL;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -f %s/*.idx", pdir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(count_files(pdir, ".idx"), 0);
    f->log = open_log(f);
    assert_int_equal(count_files(pdir, ".idx"), count_files(pdir, ".log"));
    check_all_seeks(f->log, k);
    free(k);
}

/* ---- retention ---------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void append_many(struct eventlog *log, uint32_t part, int n, size_t len)
{
    uint8_t *body = malloc(len);
    assert_non_null(body);
    struct done *d = calloc((size_t)n, sizeof(*d));
    assert_non_null(d);
    for (int i = 0; i < n; i++) {
        fill_body(body, len, (uint64_t)i);
        struct eventlog_message msg = {.body = body, .body_len = len};
        done_init(&d[i]);
        assert_int_equal(eventlog_append(log, part, &msg, done_fn, &d[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        done_wait(&d[i]);
        assert_int_equal(d[i].status, 0);
        done_free(&d[i]);
    }
    free(d);
    free(body);
}

static void test_retention_by_age(void **state)
{
    struct fixture *f = *state;
    f->opts.partitions = 1;
    f->opts.durability = EVENTLOG_NONE;
    f->opts.segment_bytes = 4096;
    f->opts.retention_ms = 60 * 60 * 1000;
    f->log = open_log(f);
    append_many(f->log, 0, 100, 500); /* ~7 records per segment */
    char pdir[128];
    snprintf(pdir, sizeof(pdir), "%s/0", f->dir);
    int segs = count_files(pdir, ".log");
    assert_true(segs > 10);

    struct eventlog_reader *r = reader_or_die(f->log, 0, EVENTLOG_SEEK_START, 0, true);
    assert_int_equal(next_seq(r), 0);

    /* Nothing is an hour old yet. */
    assert_int_equal(eventlog_apply_retention(f->log, now_ms()), 0);
    assert_int_equal(count_files(pdir, ".log"), segs);

    /* Two hours on, everything but the active segment goes. */
    int dropped = eventlog_apply_retention(f->log, now_ms() + 2 * 60 * 60 * 1000);
    assert_int_equal(dropped, segs - 1);
    assert_int_equal(count_files(pdir, ".log"), 1);
    assert_int_equal(count_files(pdir, ".idx"), 1);
    struct eventlog_partition_info info;
    assert_int_equal(eventlog_partition_info(f->log, 0, &info), 0);
    assert_true(info.first_seq > 90);
    assert_int_equal(info.last_seq, 99);

    /* The reader whose position was dropped skips to the oldest kept record. */
    assert_int_equal(next_seq(r), (int64_t)info.first_seq);
    eventlog_reader_close(r);
    expect_seek(f->log, EVENTLOG_SEEK_SEQ, 3, true, (int64_t)info.first_seq);

    /* The log reopens with its first segments gone, and keeps counting. */
    eventlog_close(f->log);
    f->log = open_log(f);
    struct done d;
    assert_int_equal(append_body(f->log, 0, "after", 5, &d), 0);
    assert_int_equal(d.seq, 100);
    assert_int_equal(eventlog_partition_info(f->log, 0, &info), 0);
    assert_true(info.first_seq > 90);
}

static uint64_t dir_bytes(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "cat %s/*.log | wc -c", dir);
    FILE *p = popen(cmd, "r");
    unsigned long long n = 0;
    if (p) {
        if (fscanf(p, "%llu", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

static void test_retention_by_size(void **state)
{
    struct fixture *f = *state;
    f->opts.partitions = 1;
    f->opts.durability = EVENTLOG_NONE;
    f->opts.segment_bytes = 4096;
    f->opts.retention_bytes = 5 * 4096;
    f->log = open_log(f);
    append_many(f->log, 0, 200, 500);
    char pdir[128];
    snprintf(pdir, sizeof(pdir), "%s/0", f->dir);
    /* The writer applies retention after each roll; closing waits for it to finish
     * unlinking, and a reopened log finds nothing more to drop. */
    eventlog_close(f->log);
    f->log = open_log(f);
    assert_int_equal(eventlog_apply_retention(f->log, now_ms()), 0);
    assert_true(dir_bytes(pdir) <= 5 * 4096);
    assert_true(dir_bytes(pdir) > 3 * 4096);
    struct eventlog_partition_info info;
    assert_int_equal(eventlog_partition_info(f->log, 0, &info), 0);
    assert_int_equal(info.last_seq, 199);
    assert_true(info.first_seq > 150);
    /* Everything kept reads back from the first kept record. */
    struct eventlog_reader *r = reader_or_die(f->log, 0, EVENTLOG_SEEK_START, 0, true);
    int64_t want = (int64_t)info.first_seq, got;
    while ((got = next_seq(r)) >= 0)
        assert_int_equal(got, want++);
    assert_int_equal(want, 200);
    eventlog_reader_close(r);
}

/* ---- reader wake-ups ----------------------------------------------------------------------- */

struct waker {
    pthread_mutex_t m;
    pthread_cond_t c;
    int calls;
};

static void wake_fn(void *ctx)
{
    struct waker *w = ctx;
    pthread_mutex_lock(&w->m);
    w->calls++;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

/* Waits up to 5 s for w->calls to reach n. */
static int wait_calls(struct waker *w, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    pthread_mutex_lock(&w->m);
    while (w->calls < n)
        if (pthread_cond_timedwait(&w->c, &w->m, &ts) == ETIMEDOUT)
            break;
    int calls = w->calls;
    pthread_mutex_unlock(&w->m);
    return calls;
}

static void *append_later(void *arg)
{
    struct eventlog *log = arg;
    usleep(20000);
    struct eventlog_message msg = {.body = (const uint8_t *)"wake", .body_len = 4};
    eventlog_append(log, 0, &msg, NULL, NULL);
    return NULL;
}

static void test_reader_wait(void **state)
{
    struct fixture *f = *state;
    f->log = open_log(f);
    struct waker w = {.calls = 0};
    pthread_mutex_init(&w.m, NULL);
    pthread_cond_init(&w.c, NULL);

    struct eventlog_reader *r = reader_or_die(f->log, 0, EVENTLOG_SEEK_END, 0, true);
    assert_int_equal(next_seq(r), -1);
    eventlog_reader_wait(r, wake_fn, &w);
    assert_int_equal(w.calls, 0);
    /* A commit on another partition does not wake this reader. */
    assert_int_equal(append_body(f->log, 1, "other", 5, NULL), 0);
    usleep(10000);
    assert_int_equal(w.calls, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, append_later, f->log), 0);
    assert_int_equal(wait_calls(&w, 1), 1);
    pthread_join(th, NULL);
    struct eventlog_record rec;
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    assert_int_equal(rec.body_len, 4);
    assert_memory_equal(rec.body, "wake", 4);

    /* Already committed: called at once, on this thread. */
    assert_int_equal(append_body(f->log, 0, "now", 3, NULL), 0);
    eventlog_reader_wait(r, wake_fn, &w);
    assert_int_equal(w.calls, 2);
    assert_int_equal(eventlog_reader_next(r, &rec), 1);

    /* One-shot, replaceable and cancellable. */
    eventlog_reader_wait(r, wake_fn, &w);
    eventlog_reader_wait(r, wake_fn, &w); /* replaces: one call, not two */
    assert_int_equal(append_body(f->log, 0, "a", 1, NULL), 0);
    assert_int_equal(wait_calls(&w, 3), 3);
    assert_int_equal(append_body(f->log, 0, "b", 1, NULL), 0);
    usleep(10000);
    assert_int_equal(w.calls, 3);
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    eventlog_reader_wait(r, wake_fn, &w);
    eventlog_reader_wait(r, NULL, NULL);
    assert_int_equal(append_body(f->log, 0, "c", 1, NULL), 0);
    usleep(10000);
    assert_int_equal(w.calls, 3);

    /* A closed reader is never called. */
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    eventlog_reader_wait(r, wake_fn, &w);
    eventlog_reader_close(r);
    assert_int_equal(append_body(f->log, 0, "d", 1, NULL), 0);
    usleep(10000);
    assert_int_equal(w.calls, 3);
    pthread_mutex_destroy(&w.m);
    pthread_cond_destroy(&w.c);
}

/* ---- a live tail: a consumer woken by commits while writers roll and retention drops ---- */

#define TAIL_RECORDS 3000

struct tail {
    struct eventlog *log;
    struct waker w;
    int64_t last; /* last seq seen */
    int64_t seen;
    bool gapless;
    int errors;
};

static void *tail_thread(void *arg)
{
    struct tail *t = arg;
    int st;
    struct eventlog_reader *r = eventlog_reader_open(t->log, 0, EVENTLOG_SEEK_START, 0, true, &st);
    if (!r) {
        t->errors++;
        return NULL;
    }
    int calls = 0;
    while (t->last < TAIL_RECORDS - 1) {
        struct eventlog_record rec;
        int rc = eventlog_reader_next(r, &rec);
        if (rc < 0) {
            t->errors++;
            break;
        }
        if (rc == 1) {
            if ((int64_t)rec.seq <= t->last || (t->gapless && (int64_t)rec.seq != t->last + 1))
                t->errors++;
            t->last = (int64_t)rec.seq;
            t->seen++;
            continue;
        }
        /* At the end: sleep until the writer says there is more (no polling). */
        eventlog_reader_wait(r, wake_fn, &t->w);
        if (wait_calls(&t->w, calls + 1) != calls + 1) {
            t->errors++;
            break;
        }
        calls++;
    }
    eventlog_reader_close(r);
    return NULL;
}

static void *tail_producer(void *arg)
{
    struct eventlog *log = arg;
    uint8_t body[300];
    memset(body, 'p', sizeof(body));
    struct eventlog_message msg = {.body = body, .body_len = sizeof(body)};
    for (int i = 0; i < TAIL_RECORDS / 2; i++) {
        int rc;
        while ((rc = eventlog_append(log, 0, &msg, NULL, NULL)) == EVENTLOG_ERR_BUSY)
            usleep(1000);
        if (rc != 0)
            abort();
        if (i % 100 == 0)
            usleep(1000);
    }
    return NULL;
}

static void run_live_tail(struct fixture *f, bool gapless)
{
    f->opts.partitions = 1;
    f->opts.durability = EVENTLOG_NONE;
    f->opts.segment_bytes = 4096;
    f->log = open_log(f);
    struct tail t = {.log = f->log, .last = -1, .gapless = gapless};
    pthread_mutex_init(&t.w.m, NULL);
    pthread_cond_init(&t.w.c, NULL);
    pthread_t reader, prod[2];
    assert_int_equal(pthread_create(&reader, NULL, tail_thread, &t), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&prod[i], NULL, tail_producer, f->log), 0);
    for (int i = 0; i < 2 && !gapless; i++) {
        usleep(5000);
        assert_true(eventlog_apply_retention(f->log, now_ms()) >= 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(prod[i], NULL);
    pthread_join(reader, NULL);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.last, TAIL_RECORDS - 1);
    if (gapless)
        assert_int_equal(t.seen, TAIL_RECORDS);
    pthread_mutex_destroy(&t.w.m);
    pthread_cond_destroy(&t.w.c);
}

static void test_live_tail(void **state)
{
    run_live_tail(*state, true);
}

static void test_live_tail_with_retention(void **state)
{
    struct fixture *f = *state;
    f->opts.retention_bytes = 3 * 4096; /* the writer drops segments after every roll */
    run_live_tail(f, false);
}

/* ---- a full disk ------------------------------------------------------------------------------
 */

static void read_all_bodies(struct eventlog *log, uint32_t part, const char *const *want, size_t n)
{
    struct eventlog_reader *r = reader_or_die(log, part, EVENTLOG_SEEK_START, 0, true);
    struct eventlog_record rec;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(eventlog_reader_next(r, &rec), 1);
        assert_int_equal(rec.seq, i);
        assert_int_equal(rec.body_len, strlen(want[i]));
        assert_memory_equal(rec.body, want[i], rec.body_len);
    }
    assert_int_equal(eventlog_reader_next(r, &rec), 0);
    eventlog_reader_close(r);
}

static void test_disk_full(void **state)
{
    struct fixture *f = *state;
    f->opts.partitions = 1;
    f->log = open_log(f);
    assert_int_equal(append_body(f->log, 0, "one", 3, NULL), 0);
    assert_int_equal(append_body(f->log, 0, "two", 3, NULL), 0);

    /* The write fails half way (ENOSPC): the batch fails, nothing of it stays. */
    io_fault_set(IO_FAULT_WRITE, ENOSPC, -1);
    struct done d[3];
    const char *lost[] = {"lost-1", "lost-2-longer-body", "lost-3"};
    for (int i = 0; i < 3; i++)
        done_init(&d[i]);
    for (int i = 0; i < 3; i++) {
        struct eventlog_message msg = {.body = (const uint8_t *)lost[i],
                                       .body_len = strlen(lost[i])};
        assert_int_equal(eventlog_append(f->log, 0, &msg, done_fn, &d[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        done_wait(&d[i]);
        assert_int_equal(d[i].status, EVENTLOG_ERR_FULL);
        done_free(&d[i]);
    }
    const char *kept[] = {"one", "two", "three", "four"};
    read_all_bodies(f->log, 0, kept, 2);
    /* Still full: still failing, and still serving readers. */
    assert_int_equal(append_body(f->log, 0, "x", 1, NULL), EVENTLOG_ERR_FULL);
    read_all_bodies(f->log, 0, kept, 2);

    /* Space returns: appends go on with the next sequence number. */
    io_fault_clear();
    struct done ok;
    assert_int_equal(append_body(f->log, 0, "three", 5, &ok), 0);
    assert_int_equal(ok.seq, 2);

    /* fdatasync failing (ENOSPC on delayed allocation) is the same. */
    io_fault_set(IO_FAULT_SYNC, ENOSPC, 1);
    assert_int_equal(append_body(f->log, 0, "lost-4", 6, NULL), EVENTLOG_ERR_FULL);
    assert_int_equal(append_body(f->log, 0, "four", 4, &ok), 0);
    assert_int_equal(ok.seq, 3);
    /* Another errno is an I/O error. */
    io_fault_set(IO_FAULT_SYNC, EIO, 1);
    assert_int_equal(append_body(f->log, 0, "lost-5", 6, NULL), EVENTLOG_ERR_IO);
    read_all_bodies(f->log, 0, kept, 4);

    /* And after a reopen, nothing of the failed batches comes back. */
    eventlog_close(f->log);
    f->log = open_log(f);
    read_all_bodies(f->log, 0, kept, 4);
    assert_int_equal(append_body(f->log, 0, "five", 4, &ok), 0);
    assert_int_equal(ok.seq, 4);
}

static void test_disk_full_at_roll(void **state)
{
    struct fixture *f = *state;
    f->opts.partitions = 1;
    f->opts.durability = EVENTLOG_NONE;
    f->opts.segment_bytes = 4096;
    f->log = open_log(f);
    uint8_t body[1000];
    memset(body, 'a', sizeof(body));
    struct done d;
    for (int i = 0; i < 3; i++)
        assert_int_equal(append_body(f->log, 0, body, sizeof(body), &d), 0);
    /* The fourth needs a new segment, whose creation fails. */
    io_fault_set(IO_FAULT_WRITE, ENOSPC, -1);
    assert_int_equal(append_body(f->log, 0, body, sizeof(body), &d), EVENTLOG_ERR_FULL);
    assert_int_equal(append_body(f->log, 0, "x", 1, &d), EVENTLOG_ERR_FULL);
    io_fault_clear();
    assert_int_equal(append_body(f->log, 0, "y", 1, &d), 0);
    assert_int_equal(d.seq, 3);
    assert_int_equal(append_body(f->log, 0, body, sizeof(body), &d), 0);
    assert_int_equal(d.seq, 4);
    eventlog_close(f->log);
    f->log = open_log(f);
    struct eventlog_reader *r = reader_or_die(f->log, 0, EVENTLOG_SEEK_START, 0, true);
    for (int64_t i = 0; i < 5; i++)
        assert_int_equal(next_seq(r), i);
    assert_int_equal(next_seq(r), -1);
    eventlog_reader_close(r);
}

/* ---- the bounded queue ---------------------------------------------------------------------- */

struct gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool entered, open;
};

/* A completion that holds the writer until the test opens the gate. */
static void gate_done(void *ctx, int status, uint64_t seq, uint64_t offset, int64_t ms)
{
    (void)status;
    (void)seq;
    (void)offset;
    (void)ms;
    struct gate *g = ctx;
    pthread_mutex_lock(&g->m);
    g->entered = true;
    pthread_cond_broadcast(&g->c);
    while (!g->open)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
}

static void count_done(void *ctx, int status, uint64_t seq, uint64_t offset, int64_t ms)
{
    (void)seq;
    (void)offset;
    (void)ms;
    int *n = ctx;
    if (status == 0)
        __atomic_add_fetch(n, 1, __ATOMIC_SEQ_CST);
}

static void test_queue_bound(void **state)
{
    struct fixture *f = *state;
    f->opts.partitions = 1;
    f->opts.durability = EVENTLOG_NONE;
    f->log = open_log(f);
    struct gate g = {.entered = false, .open = false};
    pthread_mutex_init(&g.m, NULL);
    pthread_cond_init(&g.c, NULL);
    struct eventlog_message small = {.body = (const uint8_t *)"g", .body_len = 1};
    assert_int_equal(eventlog_append(f->log, 0, &small, gate_done, &g), 0);
    pthread_mutex_lock(&g.m);
    while (!g.entered)
        pthread_cond_wait(&g.c, &g.m);
    pthread_mutex_unlock(&g.m);

    /* The writer is stuck in a completion: appends pile up to the bound, then BUSY. */
    size_t len = EVENTLOG_RECORD_MAX - 1024;
    uint8_t *body = calloc(1, len);
    assert_non_null(body);
    struct eventlog_message big = {.body = body, .body_len = len};
    int accepted = 0, completed = 0, rc;
    while ((rc = eventlog_append(f->log, 0, &big, count_done, &completed)) == 0)
        accepted++;
    assert_int_equal(rc, EVENTLOG_ERR_BUSY);
    assert_true(accepted >= 60 && accepted <= 64);

    pthread_mutex_lock(&g.m);
    g.open = true;
    pthread_cond_broadcast(&g.c);
    pthread_mutex_unlock(&g.m);
    /* Close completes every queued append with its real status. */
    eventlog_close(f->log);
    f->log = NULL;
    assert_int_equal(completed, accepted);
    f->log = open_log(f);
    struct eventlog_partition_info info;
    assert_int_equal(eventlog_partition_info(f->log, 0, &info), 0);
    assert_int_equal(info.last_seq, (uint64_t)accepted);
    free(body);
    pthread_mutex_destroy(&g.m);
    pthread_cond_destroy(&g.c);
}

/* ---- partition hash ------------------------------------------------------------------------ */

static void test_partition_hash(void **state)
{
    struct fixture *f = *state;
    f->opts.partitions = 4;
    f->log = open_log(f);
    /* FNV-1a 32 reference values. */
    assert_int_equal(eventlog_fnv1a32("", 0), 0x811c9dc5u);
    assert_int_equal(eventlog_fnv1a32("a", 1), 0xe40c292cu);
    assert_int_equal(eventlog_fnv1a32("foobar", 6), 0xbf9cf968u);
    assert_int_equal(eventlog_partition_for(f->log, "foobar", 6), 0xbf9cf968u % 4);
    int seen[4] = {0};
    for (int i = 0; i < 400; i++) {
        char id[32];
        int n = snprintf(id, sizeof(id), "device-%d", i);
        uint32_t p = eventlog_partition_for(f->log, id, (size_t)n);
        assert_true(p < 4);
        assert_int_equal(p, eventlog_partition_for(f->log, id, (size_t)n));
        seen[p]++;
    }
    for (int i = 0; i < 4; i++)
        assert_true(seen[i] > 50);
}

static void test_bad_options(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct eventlog_options o = {.dir = f->dir, .partitions = 33};
    assert_null(eventlog_open(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "partitions"));
    o = (struct eventlog_options){.dir = f->dir, .segment_bytes = 10};
    assert_null(eventlog_open(&o, err, sizeof(err)));
    o = (struct eventlog_options){.dir = f->dir, .retention_ms = -1};
    assert_null(eventlog_open(&o, err, sizeof(err)));
    o = (struct eventlog_options){.dir = NULL};
    assert_null(eventlog_open(&o, err, sizeof(err)));
    /* A new log with partitions 0 gets the default of 4. */
    o = (struct eventlog_options){.dir = f->dir, .durability = EVENTLOG_NONE};
    f->log = eventlog_open(&o, err, sizeof(err));
    assert_non_null(f->log);
    assert_int_equal(eventlog_partition_count(f->log), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seeks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_tail_with_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_at_roll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partition_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
