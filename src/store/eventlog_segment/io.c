/* Disk-changing system calls for the event log, with test fault injection (io.h). */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

struct fault {
    atomic_int err;   /* errno to inject, 0 = none */
    atomic_int count; /* calls left to fail; negative = until cleared */
};

static struct fault faults[IO_FAULT_OPS];
static atomic_uint sync_delay_us;

void io_fault_sync_delay(unsigned us)
{
    atomic_store(&sync_delay_us, us);
}

void io_fault_set(enum io_fault_op op, int err, int count)
{
    atomic_store(&faults[op].count, count);
    atomic_store(&faults[op].err, err);
}

void io_fault_clear(void)
{
    atomic_store(&sync_delay_us, 0);
    for (int i = 0; i < IO_FAULT_OPS; i++) {
        atomic_store(&faults[i].err, 0);
        atomic_store(&faults[i].count, 0);
    }
}

/* The injected errno for this call of op, or 0. */
static int fault_take(enum io_fault_op op)
{
    int err = atomic_load(&faults[op].err);
    if (err == 0)
        return 0;
    int left = atomic_load(&faults[op].count);
    if (left < 0)
        return err;
    while (left > 0) {
        if (atomic_compare_exchange_weak(&faults[op].count, &left, left - 1)) {
            if (left == 1)
                atomic_store(&faults[op].err, 0);
            return err;
        }
    }
    return 0;
}

static int pwrite_loop(int fd, const uint8_t *p, size_t len, uint64_t pos)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)pos);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        pos += (uint64_t)n;
    }
    return 0;
}

int io_pwrite_all(int fd, const void *buf, size_t len, uint64_t pos)
{
    int err = fault_take(IO_FAULT_WRITE);
    if (err) {
        int rc = pwrite_loop(fd, buf, len / 2, pos);
        return rc ? rc : -err;
    }
    return pwrite_loop(fd, buf, len, pos);
}

/* Drops n written bytes from the front of the vector (*iov, *cnt). */
static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
    while (*cnt > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
    if (*cnt > 0 && n > 0) {
        (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
}

static int pwritev_loop(int fd, struct iovec *iov, int cnt, uint64_t pos)
{
    while (cnt > 0) {
        int now = cnt < IOV_MAX ? cnt : IOV_MAX;
        ssize_t n = pwritev(fd, iov, now, (off_t)pos);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        pos += (uint64_t)n;
        iov_advance(&iov, &cnt, (size_t)n);
        while (cnt > 0 && iov->iov_len == 0) {
            iov++;
            cnt--;
        }
    }
    return 0;
}

int io_pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t pos)
{
    int err = fault_take(IO_FAULT_WRITE);
    if (err) {
        size_t total = 0;
        for (int i = 0; i < cnt; i++)
            total += iov[i].iov_len;
        /* Write the first half for real, then report the disk full. */
        size_t half = total / 2, left = half;
        int keep = 0;
        while (keep < cnt && left >= iov[keep].iov_len) {
            left -= iov[keep].iov_len;
            keep++;
        }
        if (keep < cnt && left > 0)
            iov[keep++].iov_len = left;
        int rc = pwritev_loop(fd, iov, keep, pos);
        return rc ? rc : -err;
    }
    return pwritev_loop(fd, iov, cnt, pos);
}

int io_datasync(int fd)
{
    int err = fault_take(IO_FAULT_SYNC);
    if (err)
        return -err;
    unsigned delay = atomic_load(&sync_delay_us);
    if (delay)
        usleep(delay);
    return fdatasync(fd) == 0 ? 0 : -errno;
}

int io_write_zeros(int fd, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[64 * 1024];
    int err = fault_take(IO_FAULT_ZEROS);
    if (err) {
        /* Half of it for real, as a disk filling up does. */
        uint64_t half = from + (to - from) / 2;
        for (uint64_t at = from; at < half;) {
            size_t n = half - at < sizeof(zeros) ? (size_t)(half - at) : sizeof(zeros);
            int rc = pwrite_loop(fd, zeros, n, at);
            if (rc != 0)
                return rc;
            at += n;
        }
        return -err;
    }
    struct iovec iov[16];
    while (from < to) {
        int cnt = 0;
        uint64_t at = from;
        while (cnt < 16 && at < to) {
            size_t n = to - at < sizeof(zeros) ? (size_t)(to - at) : sizeof(zeros);
            iov[cnt].iov_base = (void *)zeros;
            iov[cnt].iov_len = n;
            cnt++;
            at += n;
        }
        int rc = pwritev_loop(fd, iov, cnt, from);
        if (rc != 0)
            return rc;
        from = at;
    }
    return fdatasync(fd) == 0 ? 0 : -errno;
}

int io_fsync_dir(const char *dir)
{
    int err = fault_take(IO_FAULT_SYNC);
    if (err)
        return -err;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int io_rename(const char *from, const char *to)
{
    return rename(from, to) == 0 ? 0 : -errno;
}

int io_truncate(int fd, uint64_t size)
{
    for (;;) {
        if (ftruncate(fd, (off_t)size) == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

int io_unlink(const char *path)
{
    return unlink(path) == 0 ? 0 : -errno;
}

int io_open_new(const char *path, int flags)
{
    int fd = open(path, flags | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return fd >= 0 ? fd : -errno;
}

int io_mkdir(const char *path)
{
    if (mkdir(path, 0755) == 0)
        return 0;
    if (errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return -ENOTDIR;
    }
    return -errno;
}

int io_replace_file(const char *dir, const char *name, const void *buf, size_t len)
{
    char tmp[4096], dst[4096];
    int n1 = snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    int n2 = snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(tmp) || (size_t)n2 >= sizeof(dst))
        return -ENAMETOOLONG;
    int fd = io_open_new(tmp, O_WRONLY);
    if (fd < 0)
        return fd;
    int rc = io_pwrite_all(fd, buf, len, 0);
    if (rc == 0)
        rc = io_datasync(fd);
    close(fd);
    if (rc == 0)
        rc = io_rename(tmp, dst);
    if (rc != 0)
        goto remove_tmp;
    return io_fsync_dir(dir);
remove_tmp:
    unlink(tmp);
    return rc;
}
