/* Recovery of the embedded event log from what a crash or a bad disk leaves behind: the last
 * record cut at every byte, bits flipped in the last record (cut away) and in earlier ones
 * (refused, naming file and offset), damaged headers and indexes, and garbage tails. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/eventlog.h"
#include "store/eventlog_segment/format.h"
#include "store/scratch_dir.h"

#define RECORDS 5

struct fixture {
    char dir[64];
    char seg[128]; /* partition 0's first segment */
    char idx[128];
    struct eventlog_options opts;
    uint8_t *seg_bytes, *idx_bytes; /* pristine copies */
    size_t seg_len, idx_len;
    uint64_t pos[RECORDS + 2]; /* file position of each record; [RECORDS] is the last,
                                * [RECORDS + 1] the end of the file */
};

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
    struct eventlog_prop app = {"k", 1, "value", 5};
    struct eventlog_message msg = {NULL, 0, &app, 1, (const uint8_t *)body, strlen(body)};
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
    static const char *bodies[RECORDS + 1] = {
        "{\"n\":0,\"payload\":\"first record of the log\"}",
        "{\"n\":1,\"payload\":\"second\"}",
        "{\"n\":2,\"payload\":\"third record, a little longer than the rest of them\"}",
        "{\"n\":3}",
        "{\"n\":4,\"payload\":\"fifth\"}",
        "last",
    };
    return bodies[i];
}

static struct eventlog *try_open(struct fixture *f, char *err, size_t errlen)
{
    f->opts.dir = f->dir;
    return eventlog_open(&f->opts, err, errlen);
}

static struct eventlog *open_ok(struct fixture *f)
{
    char err[512] = "";
    struct eventlog *log = try_open(f, err, sizeof(err));
    if (!log)
        fprintf(stderr, "eventlog_open: %s\n", err);
    assert_non_null(log);
    return log;
}

/* A log of RECORDS records plus a small last one, closed; pristine copies kept. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (scratch_dir_make(f->dir, sizeof(f->dir), "eventlog-rec") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->seg, sizeof(f->seg), "%s/0/00000000000000000000.log", f->dir);
    snprintf(f->idx, sizeof(f->idx), "%s/0/00000000000000000000.idx", f->dir);
    f->opts.partitions = 1;
    f->opts.durability = EVENTLOG_NONE;
    struct eventlog *log = open_ok(f);
    for (int i = 0; i <= RECORDS; i++) {
        uint64_t seq, offset;
        if (append_wait(log, body_of(i), &seq, &offset) != 0 || seq != (uint64_t)i)
            return -1;
        f->pos[i] = EL_SEG_HEADER_SIZE + offset;
    }
    eventlog_close(log);
    f->seg_bytes = read_file(f->seg, &f->seg_len);
    f->pos[RECORDS + 1] = f->seg_len;
    f->idx_bytes = read_file(f->idx, &f->idx_len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    scratch_dir_remove(f->dir);
    free(f->seg_bytes);
    free(f->idx_bytes);
    free(f);
    return 0;
}

/* Puts back the pristine index and the first len bytes of the segment, with one byte
 * xor'ed by mask at flip (flip >= len: none). */
static void restore(struct fixture *f, size_t len, size_t flip, uint8_t mask)
{
    uint8_t *copy = malloc(f->seg_len);
    assert_non_null(copy);
    memcpy(copy, f->seg_bytes, f->seg_len);
    if (flip < len)
        copy[flip] ^= mask;
    write_file(f->seg, copy, len);
    write_file(f->idx, f->idx_bytes, f->idx_len);
    free(copy);
}

/* The log holds exactly records 0..n-1, intact, and takes the next append as seq n. */
static void expect_records(struct fixture *f, struct eventlog *log, int n)
{
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
        assert_int_equal(rec.app_count, 1);
        assert_memory_equal(rec.app_props[0].value, "value", 5);
    }
    assert_int_equal(eventlog_reader_next(r, &rec), 0);
    uint64_t seq, offset;
    assert_int_equal(append_wait(log, "again", &seq, &offset), 0);
    assert_int_equal(seq, (uint64_t)n);
    assert_int_equal(offset, f->pos[n] - EL_SEG_HEADER_SIZE);
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    assert_int_equal(rec.seq, (uint64_t)n);
    eventlog_reader_close(r);
}

static void test_cut_last_record_everywhere(void **state)
{
    struct fixture *f = *state;
    /* Every length from "the last record entirely gone" to "one byte short". */
    for (size_t len = f->pos[RECORDS]; len < f->seg_len; len++) {
        restore(f, len, SIZE_MAX, 0);
        struct eventlog *log = open_ok(f);
        assert_int_equal(file_size(f->seg), (off_t)f->pos[RECORDS]);
        expect_records(f, log, RECORDS);
        eventlog_close(log);
    }
    /* Uncut, everything is there. */
    restore(f, f->seg_len, SIZE_MAX, 0);
    struct eventlog *log = open_ok(f);
    int st;
    struct eventlog_reader *r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_SEQ, RECORDS, true, &st);
    struct eventlog_record rec;
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    assert_int_equal(rec.body_len, 4);
    eventlog_reader_close(r);
    eventlog_close(log);
}

static void test_cut_earlier_records(void **state)
{
    struct fixture *f = *state;
    /* Cuts through the earlier records too (a torn batch of several records): every
     * record wholly before the cut survives. */
    for (size_t len = EL_SEG_HEADER_SIZE; len < f->pos[RECORDS]; len += 7) {
        restore(f, len, SIZE_MAX, 0);
        struct eventlog *log = open_ok(f);
        int whole = 0;
        while (whole < RECORDS && f->pos[whole + 1] <= len)
            whole++;
        expect_records(f, log, whole);
        eventlog_close(log);
    }
}

static void test_flip_last_record(void **state)
{
    struct fixture *f = *state;
    size_t start = f->pos[RECORDS];
    for (size_t at = start; at < f->seg_len; at++) {
        /* Every bit of the frame head (length, CRC, seq, time), one bit of each later byte. */
        for (int bit = 0; bit < 8; bit++) {
            if (at >= start + 24 && bit != (int)(at % 8))
                continue;
            restore(f, f->seg_len, at, (uint8_t)(1u << bit));
            struct eventlog *log = open_ok(f);
            assert_int_equal(file_size(f->seg), (off_t)start);
            expect_records(f, log, RECORDS);
            eventlog_close(log);
        }
    }
}

/* Whether msg says "file offset N" for exactly this N. */
static bool names_offset(const char *msg, uint64_t n)
{
    char want[64];
    int len = snprintf(want, sizeof(want), "file offset %" PRIu64, n);
    const char *at = strstr(msg, want);
    return at && (at[len] < '0' || at[len] > '9');
}

static void expect_corrupt(struct fixture *f, uint64_t file_offset)
{
    char err[512] = "";
    struct eventlog *log = try_open(f, err, sizeof(err));
    if (log)
        eventlog_close(log);
    assert_null(log);
    if (!strstr(err, "00000000000000000000.log") || !names_offset(err, file_offset))
        fprintf(stderr, "error was: %s (wanted file offset %" PRIu64 ")\n", err, file_offset);
    assert_non_null(strstr(err, "00000000000000000000.log"));
    assert_true(names_offset(err, file_offset));
}

/* Finds the one "{segment}.damaged-{from}-*" copy, checks it holds exactly the bytes of
 * the damaged segment image from `from` on, and removes it. */
static void expect_damaged_copy(struct fixture *f, size_t from, const uint8_t *image,
                                size_t image_len)
{
    char prefix[600];
    snprintf(prefix, sizeof(prefix), "%s.damaged-%zu-", f->seg, from);
    const char *slash = strrchr(prefix, '/');
    char dirpath[600];
    snprintf(dirpath, sizeof(dirpath), "%.*s", (int)(slash - prefix), prefix);
    DIR *d = opendir(dirpath);
    assert_non_null(d);
    struct dirent *ent;
    int found = 0;
    while ((ent = readdir(d)) != NULL) {
        if (strncmp(ent->d_name, slash + 1, strlen(slash + 1)) != 0)
            continue;
        found++;
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", dirpath, ent->d_name);
        size_t len = image_len - from;
        assert_int_equal(file_size(path), (off_t)len);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        uint8_t *got = malloc(len);
        assert_non_null(got);
        assert_int_equal(fread(got, 1, len, fp), len);
        fclose(fp);
        assert_memory_equal(got, image + from, len);
        free(got);
        unlink(path);
    }
    closedir(d);
    assert_int_equal(found, 1);
}

static void test_flip_earlier_record(void **state)
{
    struct fixture *f = *state;
    /* Damage with good records after it cannot be told from an out-of-order torn batch:
     * the hub still opens, keeps every record before the damage, and moves the bytes from
     * the damaged record on aside into a copy that holds them exactly. */
    for (int rec = 0; rec < RECORDS; rec++) {
        size_t body_at = f->pos[rec + 1] - 2; /* in the body */
        size_t len_at = f->pos[rec];          /* in the length field */
        size_t seq_at = f->pos[rec] + 8;      /* in the seq */
        size_t sets[] = {body_at, len_at, seq_at};
        for (int k = 0; k < 3; k++) {
            restore(f, f->seg_len, sets[k], 0x10);
            uint8_t *image = malloc(f->seg_len);
            assert_non_null(image);
            memcpy(image, f->seg_bytes, f->seg_len);
            image[sets[k]] ^= 0x10;
            struct eventlog *log = open_ok(f);
            expect_records(f, log, rec);
            eventlog_close(log);
            expect_damaged_copy(f, f->pos[rec], image, f->seg_len);
            free(image);
        }
    }
    /* Damage in the segment header. */
    restore(f, f->seg_len, 20, 0x01);
    expect_corrupt(f, 0);
}

static void test_garbage_tails(void **state)
{
    struct fixture *f = *state;
    uint8_t *buf = malloc(f->seg_len + 8192);
    assert_non_null(buf);
    /* A zeroed page after the last record (a file extended but never written). */
    memcpy(buf, f->seg_bytes, f->seg_len);
    memset(buf + f->seg_len, 0, 4096);
    write_file(f->seg, buf, f->seg_len + 4096);
    struct eventlog *log = open_ok(f);
    assert_int_equal(file_size(f->seg), (off_t)f->seg_len);
    eventlog_close(log);
    /* Zeros in place of the last record, and after it. */
    memset(buf + f->pos[RECORDS], 0, 4096);
    write_file(f->seg, buf, f->pos[RECORDS] + 4096);
    log = open_ok(f);
    expect_records(f, log, RECORDS);
    eventlog_close(log);
    /* Random bytes after the last record. */
    memcpy(buf, f->seg_bytes, f->seg_len);
    uint32_t x = 12345;
    for (size_t i = f->seg_len; i < f->seg_len + 8192; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    write_file(f->seg, buf, f->seg_len + 8192);
    write_file(f->idx, f->idx_bytes, f->idx_len);
    log = open_ok(f);
    assert_int_equal(file_size(f->seg), (off_t)f->seg_len);
    eventlog_close(log);
    /* A copy of an earlier record after the last one: its CRC is good but its sequence
     * number is out of place, so it is damage, not a tail: moved aside, the rest kept. */
    memcpy(buf, f->seg_bytes, f->seg_len);
    memcpy(buf + f->seg_len, f->seg_bytes + f->pos[1], f->pos[2] - f->pos[1]);
    write_file(f->seg, buf, f->seg_len + (f->pos[2] - f->pos[1]));
    log = open_ok(f);
    assert_int_equal(file_size(f->seg), (off_t)f->seg_len);
    eventlog_close(log);
    expect_damaged_copy(f, f->seg_len, buf, f->seg_len + (f->pos[2] - f->pos[1]));
    free(buf);
}

static void test_damaged_index(void **state)
{
    struct fixture *f = *state;
    /* Missing: rebuilt. */
    unlink(f->idx);
    struct eventlog *log = open_ok(f);
    eventlog_close(log);
    size_t len;
    uint8_t *idx = read_file(f->idx, &len);
    assert_int_equal(len, f->idx_len);
    assert_memory_equal(idx, f->idx_bytes, len);
    free(idx);
    /* Garbage: rebuilt. */
    uint8_t junk[200];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37);
    write_file(f->idx, junk, sizeof(junk));
    log = open_ok(f);
    eventlog_close(log);
    idx = read_file(f->idx, &len);
    assert_int_equal(len, f->idx_len);
    free(idx);
    /* A torn entry at its end: cut. */
    uint8_t *torn = malloc(f->idx_len + 10);
    assert_non_null(torn);
    memcpy(torn, f->idx_bytes, f->idx_len);
    memset(torn + f->idx_len, 0xAB, 10);
    write_file(f->idx, torn, f->idx_len + 10);
    log = open_ok(f);
    expect_records(f, log, RECORDS + 1);
    eventlog_close(log);
    free(torn);
}

/* A bigger log: several segments, several index entries each. */
static void fill_big(struct fixture *f, int n)
{
    f->opts.segment_bytes = 48 * 1024;
    struct eventlog *log = open_ok(f);
    char body[1200];
    memset(body, 'b', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    for (int i = RECORDS + 1; i < n; i++) {
        uint64_t seq;
        assert_int_equal(append_wait(log, body, &seq, NULL), 0);
        assert_int_equal(seq, (uint64_t)i);
    }
    eventlog_close(log);
}

static void test_sealed_segment_damage(void **state)
{
    struct fixture *f = *state;
    fill_big(f, 200);
    /* Segment 0 is sealed. Damage a record inside it: open trusts the sealed segment's
     * index, and the reader meets the damage and names it. */
    size_t len;
    uint8_t *seg = read_file(f->seg, &len);
    assert_true(len > 40 * 1024);
    size_t at = f->pos[2] + 30;
    seg[at] ^= 0x40;
    write_file(f->seg, seg, len);
    struct eventlog *log = open_ok(f);
    int st;
    struct eventlog_reader *r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_START, 0, true, &st);
    assert_non_null(r);
    struct eventlog_record rec;
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    assert_int_equal(eventlog_reader_next(r, &rec), EVENTLOG_ERR_CORRUPT);
    assert_non_null(strstr(eventlog_reader_error(r), "00000000000000000000.log"));
    assert_true(names_offset(eventlog_reader_error(r), f->pos[2]));
    assert_int_equal(eventlog_reader_next(r, &rec), EVENTLOG_ERR_CORRUPT); /* stays put */
    eventlog_reader_close(r);
    /* A seek that must scan across the damage fails the same way (the damaged record's
     * length is not trusted to skip it); one that lands past it works. */
    r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_SEQ, 3, true, &st);
    assert_null(r);
    assert_int_equal(st, EVENTLOG_ERR_CORRUPT);
    r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_SEQ, 150, true, &st);
    assert_non_null(r);
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    assert_int_equal(rec.seq, 150);
    eventlog_reader_close(r);
    eventlog_close(log);
    /* Without its index the sealed segment is scanned whole, and open refuses. */
    unlink(f->idx);
    expect_corrupt(f, f->pos[2]);
    free(seg);
}

static void test_index_past_data(void **state)
{
    struct fixture *f = *state;
    fill_big(f, 36); /* one segment, with index entries every 16 KiB */
    size_t len;
    uint8_t *seg = read_file(f->seg, &len);
    assert_true(len > 36 * 1024 && len < 48 * 1024);
    char next[160];
    snprintf(next, sizeof(next), "%s/0/00000000000000000036.log", f->dir);
    assert_int_equal(access(next, F_OK), -1);
    /* Lose the last 20 KiB (as after a crash in EVENTLOG_NONE mode): the index still names
     * records that are gone, which recovery must not trust. */
    size_t cut = len - 20 * 1024;
    write_file(f->seg, seg, cut);
    struct eventlog *log = open_ok(f);
    int st;
    struct eventlog_reader *r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_START, 0, true, &st);
    struct eventlog_record rec;
    uint64_t n = 0, end = 0;
    while (eventlog_reader_next(r, &rec) == 1) {
        assert_int_equal(rec.seq, n++);
        end = rec.offset + EL_SEG_HEADER_SIZE + 8 + 28 + 8 + 1 + 5 + rec.body_len;
    }
    assert_true(end <= cut && cut - end < 1300);
    eventlog_reader_close(r);
    uint64_t seq;
    assert_int_equal(append_wait(log, "after", &seq, NULL), 0);
    assert_int_equal(seq, n);
    /* A seek into the area the index used to cover lands on real records. */
    r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_SEQ, (int64_t)n - 1, true, &st);
    assert_non_null(r);
    assert_int_equal(eventlog_reader_next(r, &rec), 1);
    assert_int_equal(rec.seq, n - 1);
    eventlog_reader_close(r);
    eventlog_close(log);
    free(seg);
}

static void test_refused_layouts(void **state)
{
    struct fixture *f = *state;
    char err[512];
    /* Meta gone while records exist: refused rather than recreated over them. */
    char meta[128];
    snprintf(meta, sizeof(meta), "%s/meta", f->dir);
    size_t meta_len;
    uint8_t *meta_bytes = read_file(meta, &meta_len);
    unlink(meta);
    assert_null(try_open(f, err, sizeof(err)));
    assert_non_null(strstr(err, "meta"));
    /* Damaged meta. */
    meta_bytes[13] ^= 1;
    write_file(meta, meta_bytes, meta_len);
    assert_null(try_open(f, err, sizeof(err)));
    assert_non_null(strstr(err, "meta"));
    meta_bytes[13] ^= 1;
    write_file(meta, meta_bytes, meta_len);
    /* A partition without segments. */
    unlink(f->seg);
    assert_null(try_open(f, err, sizeof(err)));
    assert_non_null(strstr(err, "no segment files"));
    /* A segment named for another first sequence number than its header says. */
    char other[160];
    snprintf(other, sizeof(other), "%s/0/00000000000000000007.log", f->dir);
    write_file(other, f->seg_bytes, f->seg_len);
    assert_null(try_open(f, err, sizeof(err)));
    assert_non_null(strstr(err, "file offset 0"));
    unlink(other);
    restore(f, f->seg_len, SIZE_MAX, 0);
    struct eventlog *log = open_ok(f);
    expect_records(f, log, RECORDS + 1);
    eventlog_close(log);
    free(meta_bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cut_last_record_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_earlier_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_last_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_earlier_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_tails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_segment_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_past_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_layouts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
