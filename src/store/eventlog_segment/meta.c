/* {dir}/meta: the partition count and format version of a log, written once when the log
 * is created (temp file, fdatasync, rename, directory fsync) and checked at every open. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "format.h"
#include "internal.h"
#include "io.h"

int meta_read(const char *dir, uint32_t *partitions, char *err, size_t errlen)
{
    char path[EL_PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/meta", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t buf[EL_META_SIZE + 1];
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    int saved = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(saved));
        return -1;
    }
    if (n != EL_META_SIZE || memcmp(buf, EL_META_MAGIC, 8) != 0 ||
        crc32c(0, buf, 20) != el_get32(buf + 20)) {
        snprintf(err, errlen, "%s: offset 0: not an event log meta file, or damaged", path);
        return -1;
    }
    if (el_get32(buf + 8) != EL_FORMAT_VERSION) {
        snprintf(err, errlen, "%s: format version %u, this build reads %u", path, el_get32(buf + 8),
                 EL_FORMAT_VERSION);
        return -1;
    }
    uint32_t p = el_get32(buf + 12);
    if (p < 1 || p > EL_PARTITIONS_MAX) {
        snprintf(err, errlen, "%s: offset 12: partition count %u out of range", path, p);
        return -1;
    }
    *partitions = p;
    return 0;
}

int meta_write(const char *dir, uint32_t partitions, char *err, size_t errlen)
{
    uint8_t buf[EL_META_SIZE];
    memcpy(buf, EL_META_MAGIC, 8);
    el_put32(buf + 8, EL_FORMAT_VERSION);
    el_put32(buf + 12, partitions);
    el_put32(buf + 16, 0);
    el_put32(buf + 20, crc32c(0, buf, 20));
    int rc = io_replace_file(dir, "meta", buf, sizeof(buf));
    if (rc != 0) {
        snprintf(err, errlen, "%s/meta: cannot write: %s", dir, strerror(-rc));
        return -1;
    }
    return 0;
}
