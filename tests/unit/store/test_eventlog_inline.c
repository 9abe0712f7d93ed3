/* Held appends and eventlog_flush: a held record waits for the flush; a flush that may
 * commit runs the batch on the calling thread, completions included, before it returns;
 * inline commits and the writer thread never overlap and keep a partition's records in
 * append order; the writer still tops up the preallocated tail and drains held records at
 * close; a slow inline commit hands the next ones back to the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
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

struct fixture {
    char dir[64];
    struct eventlog *log;
};

static atomic_int batches_done; /* calls of the log's batch_done */

static void count_batch(void)
{
    atomic_fetch_add(&batches_done, 1);
}

static struct eventlog *open_log(const char *dir, uint32_t partitions)
{
    char err[512] = "";
    struct eventlog_options o = {
        .dir = dir,
        .partitions = partitions,
        .durability = EVENTLOG_FSYNC,
        .batch_done = count_batch,
    };
    struct eventlog *log = eventlog_open(&o, err, sizeof(err));
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
    if (scratch_dir_make(f->dir, sizeof(f->dir), "eventlog-inline") != 0) {
        free(f);
        return -1;
    }
    atomic_store(&batches_done, 0);
    f->log = open_log(f->dir, 1);
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

/* One record's completion: where and with what it ran. */
struct done {
    atomic_bool called;
    int status;
    uint64_t seq;
    pthread_t thread;
};

static void done_fn(void *ctx, int status, uint64_t seq, uint64_t offset, int64_t ms)
{
    (void)offset;
    (void)ms;
    struct done *d = ctx;
    d->status = status;
    d->seq = seq;
    d->thread = pthread_self();
    atomic_store(&d->called, true);
}

static int append_held(struct eventlog *log, const char *body, struct done *d)
{
    struct eventlog_message m = {NULL, 0, NULL, 0, (const uint8_t *)body, strlen(body)};
    return eventlog_append_held(log, 0, &m, d ? done_fn : NULL, d);
}

static bool wait_called(struct done *d, int ms)
{
    for (int i = 0; i < ms && !atomic_load(&d->called); i++)
        usleep(1000);
    return atomic_load(&d->called);
}

/* Waits until partition 0's writer thread sleeps with nothing to do (after start-up or a
 * commit it may still be awake, and an awake writer takes the queue itself). */
static void wait_writer_idle(struct eventlog *log)
{
    struct el_part *p = &log->parts[0];
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&p->qlock);
        bool idle = p->writer_idle && !p->committing && !p->qhead;
        pthread_mutex_unlock(&p->qlock);
        if (idle)
            return;
        usleep(1000);
    }
    fail_msg("the writer thread did not go idle within 5 s");
}

/* Reads partition 0 from the start; returns how many records, bodies into out. */
static size_t read_bodies(struct eventlog *log, char (*out)[32], size_t cap)
{
    int st = 99;
    struct eventlog_reader *r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_START, 0, true, &st);
    assert_int_equal(st, 0);
    size_t n = 0;
    struct eventlog_record rec;
    while (eventlog_reader_next(r, &rec) == 1) {
        assert_true(n < cap);
        assert_int_equal(rec.seq, n);
        assert_true(rec.body_len < 32);
        memcpy(out[n], rec.body, rec.body_len);
        out[n][rec.body_len] = '\0';
        n++;
    }
    eventlog_reader_close(r);
    return n;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_held_record_waits_for_flush(void **state)
{
    struct fixture *f = *state;
    struct done d = {0};
    wait_writer_idle(f->log);
    assert_int_equal(append_held(f->log, "held", &d), EVENTLOG_OK);
    assert_false(wait_called(&d, 100)); /* nobody woke the writer */
    eventlog_flush(f->log, 0, false);   /* wakes it; it commits on its own thread */
    assert_true(wait_called(&d, 5000));
    assert_int_equal(d.status, EVENTLOG_OK);
    assert_int_equal(d.seq, 0);
    assert_false(pthread_equal(d.thread, pthread_self()));
    assert_true(atomic_load(&batches_done) >= 1);
}

static void test_inline_commit_runs_on_the_caller(void **state)
{
    struct fixture *f = *state;
    enum { N = 10 };
    struct done d[N];
    memset(d, 0, sizeof(d));
    char body[32];
    wait_writer_idle(f->log); /* inline needs it idle */
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "rec-%d", i);
        assert_int_equal(append_held(f->log, body, &d[i]), EVENTLOG_OK);
    }
    int before = atomic_load(&batches_done);
    eventlog_flush(f->log, 0, true);
    /* Everything ran before the flush returned, on this thread, as one batch. */
    for (int i = 0; i < N; i++) {
        assert_true(atomic_load(&d[i].called));
        assert_int_equal(d[i].status, EVENTLOG_OK);
        assert_int_equal(d[i].seq, (uint64_t)i);
        assert_true(pthread_equal(d[i].thread, pthread_self()));
    }
    assert_int_equal(atomic_load(&batches_done), before + 1);
    char got[N][32];
    assert_int_equal(read_bodies(f->log, got, N), N);
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "rec-%d", i);
        assert_string_equal(got[i], body);
    }
    /* An empty queue: nothing to do, nothing called. */
    eventlog_flush(f->log, 0, true);
    assert_int_equal(atomic_load(&batches_done), before + 1);
}

/* Several threads append to one partition, held and flushed with and without inline
 * commits, and one with plain appends: every record is committed once, each thread's
 * records in its own order, sequence numbers as read. */
enum { THREADS = 4, PER_THREAD = 600 };

struct producer {
    struct eventlog *log;
    int id;
    struct done done[PER_THREAD];
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    unsigned seed = (unsigned)pr->id * 7919u + 1;
    int i = 0;
    while (i < PER_THREAD) {
        int burst = 1 + (int)(rand_r(&seed) % 8);
        for (int k = 0; k < burst && i < PER_THREAD; k++, i++) {
            char body[32];
            snprintf(body, sizeof(body), "%d:%d", pr->id, i);
            struct eventlog_message m = {NULL, 0, NULL, 0, (const uint8_t *)body, strlen(body)};
            int rc = pr->id == 0 ? eventlog_append(pr->log, 0, &m, done_fn, &pr->done[i])
                                 : eventlog_append_held(pr->log, 0, &m, done_fn, &pr->done[i]);
            assert_int_equal(rc, EVENTLOG_OK);
        }
        if (pr->id != 0)
            eventlog_flush(pr->log, 0, pr->id != 1 || (rand_r(&seed) & 1));
        /* Pauses now and then, so that the writer is sometimes idle (inline commits) and
         * sometimes busy (flushes that fall back to it). */
        usleep(rand_r(&seed) % 400);
    }
    return NULL;
}

static void test_inline_and_writer_keep_order(void **state)
{
    struct fixture *f = *state;
    static struct producer prs[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&prs[i], 0, sizeof(prs[i]));
        prs[i].log = f->log;
        prs[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, produce, &prs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    int inline_runs = 0, writer_runs = 0;
    for (int i = 0; i < THREADS; i++) {
        uint64_t last = 0;
        for (int k = 0; k < PER_THREAD; k++) {
            struct done *d = &prs[i].done[k];
            assert_true(wait_called(d, 5000));
            assert_int_equal(d->status, EVENTLOG_OK);
            if (k > 0)
                assert_true(d->seq > last);
            last = d->seq;
            bool on_producer = false;
            for (int j = 0; j < THREADS; j++)
                on_producer = on_producer || pthread_equal(d->thread, t[j]);
            if (on_producer)
                inline_runs++;
            else
                writer_runs++;
        }
    }
    /* Records of thread 0 (plain appends) never complete on thread 0. */
    for (int k = 0; k < PER_THREAD; k++)
        assert_false(pthread_equal(prs[0].done[k].thread, t[0]));
    printf("completions inline: %d, on the writer: %d\n", inline_runs, writer_runs);
    assert_true(inline_runs > 0 && writer_runs > 0); /* both paths were taken */

    static char got[THREADS * PER_THREAD][32];
    size_t n = read_bodies(f->log, got, THREADS * PER_THREAD);
    assert_int_equal(n, THREADS * PER_THREAD);
    int next[THREADS] = {0};
    for (size_t j = 0; j < n; j++) {
        int id = -1, i = -1;
        assert_int_equal(sscanf(got[j], "%d:%d", &id, &i), 2);
        assert_true(id >= 0 && id < THREADS);
        assert_int_equal(i, next[id]); /* each thread's records in its order, none twice */
        assert_int_equal(prs[id].done[i].seq, j);
        next[id]++;
    }
}

/* Inline commits leave the preallocated zeros to the writer thread, which tops them up. */
static void test_writer_tops_up_zeros_after_inline_commits(void **state)
{
    struct fixture *f = *state;
    struct el_part *p = &f->log->parts[0];
    static char body[4000];
    memset(body, 'z', sizeof(body) - 1);
    /* ~800 KB of records, one per inline commit: past the 512 KiB low-water mark. */
    for (int i = 0; i < 200; i++) {
        wait_writer_idle(f->log); /* so that the flush commits inline */
        assert_int_equal(append_held(f->log, body, NULL), EVENTLOG_OK);
        eventlog_flush(f->log, 0, true);
    }
    char path[EL_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/0/%020d.log", f->dir, 0);
    struct stat st;
    uint64_t end = 0;
    bool ahead = false;
    for (int i = 0; i < 2000 && !ahead; i++) {
        pthread_mutex_lock(&p->state_lock);
        end = p->segs[p->nsegs - 1].size;
        pthread_mutex_unlock(&p->state_lock);
        ahead = stat(path, &st) == 0 && (uint64_t)st.st_size >= end + 512 * 1024;
        if (!ahead)
            usleep(1000);
    }
    assert_true(end > 700 * 1024);
    assert_true(ahead);
}

/* One inline commit slower than 2 ms sends the partition's commits back to the writer
 * thread for a while: a caller is not made to wait behind a slow disk again and again. */
static void test_slow_inline_commit_backs_off(void **state)
{
    struct fixture *f = *state;
    struct done first = {0}, second = {0};
    io_fault_sync_delay(5000);
    wait_writer_idle(f->log);
    assert_int_equal(append_held(f->log, "slow", &first), EVENTLOG_OK);
    eventlog_flush(f->log, 0, true);
    assert_true(atomic_load(&first.called));
    assert_true(pthread_equal(first.thread, pthread_self())); /* inline, but slow */
    io_fault_sync_delay(0);
    wait_writer_idle(f->log);
    assert_int_equal(append_held(f->log, "after", &second), EVENTLOG_OK);
    eventlog_flush(f->log, 0, true);
    assert_true(wait_called(&second, 5000));
    assert_int_equal(second.status, EVENTLOG_OK);
    assert_false(pthread_equal(second.thread, pthread_self())); /* the writer's now */
}

static void test_close_drains_held_records(void **state)
{
    struct fixture *f = *state;
    struct done d = {0};
    assert_int_equal(append_held(f->log, "never flushed", &d), EVENTLOG_OK);
    eventlog_close(f->log);
    assert_true(atomic_load(&d.called));
    assert_int_equal(d.status, EVENTLOG_OK);
    f->log = open_log(f->dir, 1);
    char got[1][32];
    assert_int_equal(read_bodies(f->log, got, 1), 1);
    assert_string_equal(got[0], "never flushed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_held_record_waits_for_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_commit_runs_on_the_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_and_writer_keep_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_tops_up_zeros_after_inline_commits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_slow_inline_commit_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_drains_held_records, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
