/* libFuzzer target: opening an event log whose only segment (and its index) are the input,
 * then reading every record - the whole path from disk bytes to records: header checks,
 * index trust, the torn-tail rule and its truncation, seeks and reader decoding.
 *
 * Input: u16 index length L, then L bytes of {0}.idx, then the segment file. The log lives
 * in a scratch directory under /dev/shm (tmpfs: syncs cost nothing), made once. Besides
 * "no crash, no sanitizer report, no assert": open either fails with a message or gives a
 * log whose records read back gaplessly from seq 0 and whose next append follows them. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "store/eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char seg_path[128], idx_path[128];

static void check(int ok)
{
    if (!ok)
        abort();
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0);
    check(write(fd, buf, len) == (ssize_t)len);
    close(fd);
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* Recovery moves damage aside into "*.damaged-*" copies; drop them so that runs do not
 * fill the disk. */
static void remove_damaged_copies(void)
{
    char part[600];
    snprintf(part, sizeof(part), "%s/0", dir);
    DIR *d = opendir(part);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (!strstr(ent->d_name, ".damaged-"))
            continue;
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", part, ent->d_name);
        unlink(path);
    }
    closedir(d);
}

static void make_dir(void)
{
    log_set_level(LOG_ERROR); /* torn tails and rebuilt indexes are the normal case here */
    snprintf(dir, sizeof(dir), "/dev/shm/fuzz-eventlog-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof(dir), "/tmp/fuzz-eventlog-XXXXXX");
        check(mkdtemp(dir) != NULL);
    }
    struct eventlog_options o = {.dir = dir, .partitions = 1, .durability = EVENTLOG_NONE};
    char err[256];
    struct eventlog *log = eventlog_open(&o, err, sizeof(err));
    check(log != NULL);
    eventlog_close(log);
    atexit(remove_dir);
    snprintf(seg_path, sizeof(seg_path), "%s/0/00000000000000000000.log", dir);
    snprintf(idx_path, sizeof(idx_path), "%s/0/00000000000000000000.idx", dir);
}

struct done {
    int status;
    uint64_t seq;
    int called;
};

static void on_done(void *ctx, int status, uint64_t seq, uint64_t offset, int64_t ms)
{
    (void)offset;
    (void)ms;
    struct done *d = ctx;
    d->status = status;
    d->seq = seq;
    d->called = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0])
        make_dir();
    if (size < 2)
        return 0;
    size_t idx_len = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (idx_len > size)
        idx_len = size;
    write_file(idx_path, data, idx_len);
    write_file(seg_path, data + idx_len, size - idx_len);

    struct eventlog_options o = {.dir = dir, .partitions = 1, .durability = EVENTLOG_NONE};
    char err[512] = "";
    struct eventlog *log = eventlog_open(&o, err, sizeof(err));
    remove_damaged_copies();
    if (!log) {
        check(err[0] != '\0');
        return 0;
    }
    int st;
    uint64_t n = 0;
    struct eventlog_reader *r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_START, 0, true, &st);
    check(r != NULL);
    struct eventlog_record rec;
    int rc;
    uint64_t first = 0;
    while ((rc = eventlog_reader_next(r, &rec)) == 1) {
        if (n == 0)
            first = rec.seq;
        check(rec.seq == first + n);
        n++;
    }
    eventlog_reader_close(r);
    struct eventlog_partition_info info;
    check(eventlog_partition_info(log, 0, &info) == 0);
    check(info.empty == (n == 0 && rc == 0));
    /* A seek to every third record lands on it. */
    for (uint64_t k = 0; rc == 0 && k < n; k += 3) {
        r = eventlog_reader_open(log, 0, EVENTLOG_SEEK_SEQ, (int64_t)(first + k), true, &st);
        check(r != NULL);
        check(eventlog_reader_next(r, &rec) == 1 && rec.seq == first + k);
        eventlog_reader_close(r);
    }
    struct done d = {0, 0, 0};
    struct eventlog_message msg = {.body = (const uint8_t *)"x", .body_len = 1};
    check(eventlog_append(log, 0, &msg, on_done, &d) == 0);
    eventlog_close(log); /* completes the append */
    check(d.called && d.status == 0);
    if (rc == 0)
        check(d.seq == info.first_seq + n);
    return 0;
}
