/* The preallocated tail of the active segment (docs/design/eventlog.md, invariant 16): zeros
 * written ahead of the committed end while the log is open, cut at close and before a
 * segment is sealed; what a crash leaves (records, then zeros to the end of the file) cut at
 * every byte and with flipped bits; a failing preallocation; a segment of only zeros. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/eventlog.h"
#include "store/eventlog_segment/format.h"
#include "store/eventlog_segment/io.h"
#include "store/scratch_dir.h"

#define RECORDS 6
#define SEGMENT 16384u /* small, so that the zero tail is small too */

struct fixture {
    char dir[64];
    char seg[128]; /* partition 0's first segment */
    char idx[128];
    struct eventlog_options opts;
    uint8_t *image; /* the segment as a crash would leave it: records, then zeros */
    size_t image_len;
    uint8_t *idx_bytes;
    size_t idx_len;
    uint64_t pos[RECORDS + 1]; /* file position of each record; [RECORDS] its end */
};

/* Reads path whole; the caller frees the buffer. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

struct done {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool called;
    int status;
    uint64_t seq, offset;
};

static void done_fn(void *ctx, int status, uint64_t seq, uint64_t offset, int64_t ms)
{
    (void)ms;
    struct done *d = ctx;
    pthread_mutex_lock(&d->m);
    d->called = true;
    d->status = status;
    d->seq = seq;
    d->offset = offset;
    pthread_cond_signal(&d->c);
    pthread_mutex_unlock(&d->m);
}

static int append_wait(struct eventlog *log, const char *body, uint64_t *seq, uint64_t *offset)
{
    struct done d = {.called = false};
    pthread_mutex_init(&d.m, NULL);
    pthread_cond_init(&d.c, NULL);
    struct eventlog_message msg = {NULL, 0, NULL, 0, (const uint8_t *)body, strlen(body)};
    int rc = eventlog_append(log, 0, &msg, done_fn, &d);
    if (rc == 0) {
        pthread_mutex_lock(&d.m);
        while (!d.called)
            pthread_cond_wait(&d.c, &d.m);
        pthread_mutex_unlock(&d.m);
        rc = d.status;
    }
    if (seq)
        *seq = d.seq;
    if (offset)
        *offset = d.offset;
    pthread_mutex_destroy(&d.m);
    pthread_cond_destroy(&d.c);
    return rc;
}

static const char *body_of(int i)
{
    static const char *bodies[RECORDS] = {
        "{\"n\":0,\"payload\":\"first\"}",
        "{\"n\":1}",
        "{\"n\":2,\"payload\":\"third, longer\"}",
        "{\"n\":3}",
        "{\"n\":4}",
        "last",
    };
    return bodies[i];
}

static struct eventlog *open_ok(struct fixture *f)
{
    char err[512] = "";
    f->opts.dir = f->dir;
    struct eventlog *log = eventlog_open(&f->opts, err, sizeof(err));
    if (!log)
        fprintf(stderr, "eventlog_open: %s\n", err);
    assert_non_null(log);
    return log;
}

/* Whether every byte of buf[from, to) is zero. */
static bool zeros(const uint8_t *buf, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (buf[i] != 0)
            return false;
    return true;
}

/* A log of RECORDS records written with EVENTLOG_FSYNC; the segment and index are copied
 * while the log is still open (all synced: what a crash would leave), then it is closed. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (scratch_dir_make(f->dir, sizeof(f->dir), "eventlog-pre") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->seg, sizeof(f->seg), "%s/0/00000000000000000000.log", f->dir);
    snprintf(f->idx, sizeof(f->idx), "%s/0/00000000000000000000.idx", f->dir);
    f->opts.partitions = 1;
    f->opts.durability = EVENTLOG_FSYNC;
    f->opts.segment_bytes = SEGMENT;
    struct eventlog *log = open_ok(f);
    for (int i = 0; i < RECORDS; i++) {
        uint64_t seq, offset;
        if (append_wait(log, body_of(i), &seq, &offset) != 0 || seq != (uint64_t)i)
            return -1;
        f->pos[i] = EL_SEG_HEADER_SIZE + offset;
    }
    /* One more commit: the writer preallocates after a commit's completions, so after this
     * one's completion the tail of the commits before it is in place. It is not part of the
     * image's records (cut away below). */
    uint64_t x_offset;
    if (append_wait(log, "x", NULL, &x_offset) != 0)
        return -1;
    f->pos[RECORDS] = EL_SEG_HEADER_SIZE + x_offset; /* the end of record RECORDS - 1 */
    f->image = read_file(f->seg, &f->image_len);
    f->idx_bytes = read_file(f->idx, &f->idx_len);
    eventlog_close(log);
    memset(f->image + f->pos[RECORDS], 0, f->image_len - f->pos[RECORDS]);
    f->opts.durability = EVENTLOG_NONE; /* reopening for checks needs no syncs */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    io_fault_clear();
    scratch_dir_remove(f->dir);
    free(f->image);
    free(f->idx_bytes);
    free(f);
    return 0;
}

/* Writes the image with its first len bytes kept and zeros from there to the end (a torn
 * write into the preallocated tail), one byte xor'ed by mask at flip (none when flip is out
 * of range), and the pristine index. */
static void restore(struct fixture *f, size_t len, size_t flip, uint8_t mask)
{
    uint8_t *copy = calloc(1, f->image_len);
    assert_non_null(copy);
    memcpy(copy, f->image, len);
    if (flip < f->image_len)
        copy[flip] ^= mask;
    write_file(f->seg, copy, f->image_len);
    write_file(f->idx, f->idx_bytes, f->idx_len);
    free(copy);
}

/* Names of "*.damaged-*" files in the partition directory: how many; removes them. */
static int take_damaged_copies(struct fixture *f, size_t *from)
{
    char pdir[128];
    snprintf(pdir, sizeof(pdir), "%s/0", f->dir);
    DIR *d = opendir(pdir);
    assert_non_null(d);
    struct dirent *ent;
    int n = 0;
    while ((ent = readdir(d)) != NULL) {
        const char *at = strstr(ent->d_name, ".damaged-");
        if (!at)
            continue;
        n++;
        if (from)
            *from = strtoull(at + strlen(".damaged-"), NULL, 10);
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", pdir, ent->d_name);
        unlink(path);
    }
    closedir(d);
    return n;
}

/* The log holds exactly records 0..n-1, its file ends with the last of them (the zeros were
 * cut), and the next append gets seq n at the right offset. */
static void expect_records(struct fixture *f, struct eventlog *log, int n)
{
    assert_int_equal(file_size(f->seg), (off_t)f->pos[n]);
    int st;
    struct eventlog_reader *r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_START, 0, true, &st);
    assert_non_null(r);
    struct eventlog_record rec;
    for (int i = 0; i < n; i++) {
        assert_int_equal(eventlog_reader_next(r, &rec), 1);
        assert_int_equal(rec.seq, (uint64_t)i);
        assert_int_equal(rec.offset, f->pos[i] - EL_SEG_HEADER_SIZE);
        assert_int_equal(rec.body_len, strlen(body_of(i)));
        assert_memory_equal(rec.body, body_of(i), rec.body_len);
    }
    assert_int_equal(eventlog_reader_next(r, &rec), 0);
    eventlog_reader_close(r);
    uint64_t seq, offset;
    assert_int_equal(append_wait(log, "again", &seq, &offset), 0);
    assert_int_equal(seq, (uint64_t)n);
    assert_int_equal(offset, f->pos[n] - EL_SEG_HEADER_SIZE);
}

static void test_tail_while_open_cut_at_close(void **state)
{
    struct fixture *f = *state;
    /* The image taken while open: the records, then zeros up to the segment's size. */
    assert_int_equal(f->image_len, SEGMENT);
    assert_true(zeros(f->image, f->pos[RECORDS], f->image_len));
    /* A cleanly closed log has no tail: the closed file ended with its last record. */
    restore(f, f->pos[RECORDS], SIZE_MAX, 0);
    struct eventlog *log = open_ok(f);
    expect_records(f, log, RECORDS);
    eventlog_close(log);
    assert_int_equal(take_damaged_copies(f, NULL), 0);

    /* With the default segment size, the tail is EL_ZERO_AHEAD past the committed end. */
    scratch_dir_remove(f->dir);
    assert_int_equal(mkdir(f->dir, 0755), 0);
    f->opts.segment_bytes = 0;
    f->opts.durability = EVENTLOG_FSYNC;
    log = open_ok(f);
    uint64_t offset;
    assert_int_equal(append_wait(log, "one", NULL, &offset), 0);
    assert_int_equal(append_wait(log, "two", NULL, &offset), 0);
    uint64_t first_end = EL_SEG_HEADER_SIZE + offset; /* the end after the first commit */
    assert_int_equal(file_size(f->seg), (off_t)(first_end + EL_ZERO_AHEAD));
    size_t len;
    uint8_t *bytes = read_file(f->seg, &len);
    uint64_t end = first_end + EL_FRAME_MIN + 3;
    assert_true(zeros(bytes, end, len));
    assert_false(zeros(bytes, end - 1, end));
    free(bytes);
    eventlog_close(log);
    assert_int_equal(file_size(f->seg), (off_t)end);
}

static void test_cut_everywhere_with_zero_tail(void **state)
{
    struct fixture *f = *state;
    /* A crash tore the last batch anywhere: records, a prefix of the next, zeros. */
    for (size_t len = EL_SEG_HEADER_SIZE; len <= f->pos[RECORDS]; len++) {
        restore(f, len, SIZE_MAX, 0);
        struct eventlog *log = open_ok(f);
        int whole = 0;
        while (whole < RECORDS && f->pos[whole + 1] <= len)
            whole++;
        expect_records(f, log, whole);
        eventlog_close(log);
        assert_int_equal(take_damaged_copies(f, NULL), 0);
    }
}

static void test_flips_with_zero_tail(void **state)
{
    struct fixture *f = *state;
    size_t last = f->pos[RECORDS - 1];
    /* Every bit of the last record's head, one bit of each later byte: a torn tail. */
    for (size_t at = last; at < f->pos[RECORDS]; at++) {
        for (int bit = 0; bit < 8; bit++) {
            if (at >= last + 24 && bit != (int)(at % 8))
                continue;
            restore(f, f->pos[RECORDS], at, (uint8_t)(1u << bit));
            struct eventlog *log = open_ok(f);
            expect_records(f, log, RECORDS - 1);
            eventlog_close(log);
            assert_int_equal(take_damaged_copies(f, NULL), 0);
        }
    }
    /* A stray byte in the zeros: not a preallocated tail any more, but still a torn one. */
    size_t spots[] = {f->pos[RECORDS], f->pos[RECORDS] + 100, f->image_len - 1};
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        restore(f, f->pos[RECORDS], spots[i], 0x40);
        struct eventlog *log = open_ok(f);
        expect_records(f, log, RECORDS);
        eventlog_close(log);
        assert_int_equal(take_damaged_copies(f, NULL), 0);
    }
    /* A flip in an earlier record, good records after it: damage, moved aside, the records
     * before it kept; the zeros after the records do not hide it. */
    for (int k = 0; k < RECORDS - 1; k++) {
        restore(f, f->pos[RECORDS], f->pos[k] + 30, 0x01);
        struct eventlog *log = open_ok(f);
        expect_records(f, log, k);
        eventlog_close(log);
        size_t from = 0;
        assert_int_equal(take_damaged_copies(f, &from), 1);
        assert_int_equal(from, f->pos[k]);
    }
    /* A record lost before one that reached the disk (out-of-order writeback: zeros in its
     * place): damage too, not a preallocated tail. */
    restore(f, f->pos[RECORDS], SIZE_MAX, 0);
    uint8_t *copy = read_file(f->seg, &(size_t){0});
    memset(copy + f->pos[RECORDS - 2], 0, f->pos[RECORDS - 1] - f->pos[RECORDS - 2]);
    write_file(f->seg, copy, f->image_len);
    free(copy);
    struct eventlog *log = open_ok(f);
    expect_records(f, log, RECORDS - 2);
    eventlog_close(log);
    assert_int_equal(take_damaged_copies(f, NULL), 1);
}

/* Base offset from a segment file's header. */
static uint64_t header_base(const char *path)
{
    size_t len;
    uint8_t *b = read_file(path, &len);
    assert_true(len >= EL_SEG_HEADER_SIZE);
    uint64_t base = el_get64(b + 24);
    free(b);
    return base;
}

static void test_sealed_segments_end_with_records(void **state)
{
    struct fixture *f = *state;
    scratch_dir_remove(f->dir);
    assert_int_equal(mkdir(f->dir, 0755), 0);
    f->opts.segment_bytes = 4096;
    f->opts.durability = EVENTLOG_FSYNC;
    struct eventlog *log = open_ok(f);
    char body[300];
    memset(body, 'b', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    int n = 60; /* ~5 segments */
    for (int i = 0; i < n; i++)
        assert_int_equal(append_wait(log, body, NULL, NULL), 0);
    /* While open: every sealed segment is exactly its records (9), so offsets continue. */
    char pdir[128];
    snprintf(pdir, sizeof(pdir), "%s/0", f->dir);
    struct dirent **names;
    int count = scandir(pdir, &names, NULL, alphasort);
    assert_true(count > 0);
    char prev[512] = "";
    int sealed = 0;
    for (int i = 0; i < count; i++) {
        const char *name = names[i]->d_name;
        size_t nl = strlen(name);
        if (nl == 24 && strcmp(name + 20, ".log") == 0) {
            char path[512];
            snprintf(path, sizeof(path), "%s/%s", pdir, name);
            if (prev[0]) {
                uint64_t expect = header_base(path) - header_base(prev) + EL_SEG_HEADER_SIZE;
                assert_int_equal(file_size(prev), (off_t)expect);
                sealed++;
            }
            snprintf(prev, sizeof(prev), "%s", path);
        }
        free(names[i]);
    }
    free(names);
    assert_true(sealed >= 3);
    eventlog_close(log);
    log = open_ok(f);
    int st;
    struct eventlog_reader *r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_START, 0, true, &st);
    assert_non_null(r);
    struct eventlog_record rec;
    for (int i = 0; i < n; i++) {
        assert_int_equal(eventlog_reader_next(r, &rec), 1);
        assert_int_equal(rec.seq, (uint64_t)i);
    }
    assert_int_equal(eventlog_reader_next(r, &rec), 0);
    eventlog_reader_close(r);
    eventlog_close(log);
}

static void test_preallocation_fails(void **state)
{
    struct fixture *f = *state;
    scratch_dir_remove(f->dir);
    assert_int_equal(mkdir(f->dir, 0755), 0);
    f->opts.segment_bytes = 0;
    f->opts.durability = EVENTLOG_FSYNC;
    /* Writing the zeros fails after half of them (a disk filling up): appends still work. */
    io_fault_set(IO_FAULT_ZEROS, ENOSPC, -1);
    struct eventlog *log = open_ok(f);
    for (int i = 0; i < RECORDS; i++) {
        uint64_t seq;
        assert_int_equal(append_wait(log, body_of(i), &seq, NULL), 0);
        assert_int_equal(seq, (uint64_t)i);
    }
    eventlog_close(log);
    io_fault_clear();
    /* Closed: the file ends with the last record; all of them are there. */
    f->opts.segment_bytes = SEGMENT;
    log = open_ok(f);
    expect_records(f, log, RECORDS);
    eventlog_close(log);
}

static void test_zero_segment_is_no_record(void **state)
{
    struct fixture *f = *state;
    scratch_dir_remove(f->dir);
    assert_int_equal(mkdir(f->dir, 0755), 0);
    struct eventlog *log = open_ok(f);
    eventlog_close(log);
    /* A creation that did not finish (no meta) whose segment has only a zero tail: holds
     * no record, so it is created again rather than refused. */
    assert_int_equal(truncate(f->seg, 8192), 0);
    char meta[128];
    snprintf(meta, sizeof(meta), "%s/meta", f->dir);
    assert_int_equal(unlink(meta), 0);
    log = open_ok(f);
    assert_int_equal(file_size(f->seg), EL_SEG_HEADER_SIZE);
    assert_int_equal(append_wait(log, "a", NULL, NULL), 0);
    eventlog_close(log);
    /* The same with one nonzero byte in it: refused. */
    assert_int_equal(truncate(f->seg, 8192), 0);
    uint8_t *b = calloc(1, 8192);
    assert_non_null(b);
    size_t len;
    uint8_t *cur = read_file(f->seg, &len);
    memcpy(b, cur, EL_SEG_HEADER_SIZE);
    free(cur);
    b[5000] = 1;
    write_file(f->seg, b, 8192);
    free(b);
    assert_int_equal(unlink(meta), 0);
    char err[512] = "";
    f->opts.dir = f->dir;
    log = eventlog_open(&f->opts, err, sizeof(err));
    if (log)
        eventlog_close(log);
    assert_null(log);
    assert_non_null(strstr(err, "meta"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tail_while_open_cut_at_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_everywhere_with_zero_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flips_with_zero_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_segments_end_with_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preallocation_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_segment_is_no_record, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
