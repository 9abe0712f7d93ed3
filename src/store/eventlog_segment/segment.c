/* Segment files: header codec, names, directory listing and crash-safe creation. */
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "io.h"

void seg_header_encode(uint8_t out[EL_SEG_HEADER_SIZE], const struct seg_header *h)
{
    memcpy(out, EL_SEG_MAGIC, 8);
    el_put32(out + 8, EL_FORMAT_VERSION);
    el_put32(out + 12, h->partition);
    el_put64(out + 16, h->first_seq);
    el_put64(out + 24, h->base_offset);
    el_put32(out + 32, h->seed);
    el_put32(out + 36, crc32c(0, out, 36));
}

int seg_header_decode(const uint8_t *buf, size_t len, struct seg_header *h, const char **why)
{
    if (len < EL_SEG_HEADER_SIZE) {
        *why = "segment header cut short";
        return -1;
    }
    if (memcmp(buf, EL_SEG_MAGIC, 8) != 0) {
        *why = "not a segment file (bad magic)";
        return -1;
    }
    if (crc32c(0, buf, 36) != el_get32(buf + 36)) {
        *why = "segment header fails its CRC32C";
        return -1;
    }
    if (el_get32(buf + 8) != EL_FORMAT_VERSION) {
        *why = "unsupported segment format version";
        return -1;
    }
    h->partition = el_get32(buf + 12);
    h->first_seq = el_get64(buf + 16);
    h->base_offset = el_get64(buf + 24);
    h->seed = el_get32(buf + 32);
    return 0;
}

int seg_path(char *out, size_t cap, const char *dir, uint64_t first_seq, const char *ext)
{
    int n = snprintf(out, cap, "%s/%020" PRIu64 "%s", dir, first_seq, ext);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Parses exactly 20 digits followed by ext. */
static int parse_name(const char *name, const char *ext, uint64_t *first)
{
    size_t n = strlen(name), e = strlen(ext);
    if (n != 20 + e || strcmp(name + 20, ext) != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        unsigned d = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *first = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int remove_tmp(const char *dir, const char *name)
{
    size_t n = strlen(name);
    if (n < 4 || strcmp(name + n - 4, ".tmp") != 0)
        return 0;
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    return io_unlink(path);
}

int seg_list(const char *dir, uint64_t **firsts, size_t *n)
{
    *firsts = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    uint64_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        rc = remove_tmp(dir, ent->d_name);
        if (rc != 0 && rc != -ENOENT)
            goto fail;
        rc = 0;
        uint64_t first;
        if (parse_name(ent->d_name, ".log", &first) != 0)
            continue;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint64_t *grown = realloc(v, ncap * sizeof(*v));
            if (!grown) {
                rc = -ENOMEM;
                goto fail;
            }
            v = grown;
            cap = ncap;
        }
        v[len++] = first;
    }
    closedir(d);
    if (len > 1)
        qsort(v, len, sizeof(*v), cmp_u64);
    *firsts = v;
    *n = len;
    return 0;
fail:
    closedir(d);
    free(v);
    return rc;
}

int seg_create(const char *dir, const struct seg_header *h)
{
    char path[4096], tmp[4096];
    if (seg_path(path, sizeof(path), dir, h->first_seq, ".log") != 0 ||
        seg_path(tmp, sizeof(tmp), dir, h->first_seq, ".log.tmp") != 0)
        return -ENAMETOOLONG;
    uint8_t hdr[EL_SEG_HEADER_SIZE];
    seg_header_encode(hdr, h);
    int fd = io_open_new(tmp, O_RDWR);
    if (fd < 0)
        return fd;
    int rc = io_pwrite_all(fd, hdr, sizeof(hdr), 0);
    if (rc == 0)
        rc = io_datasync(fd);
    if (rc == 0)
        rc = io_rename(tmp, path);
    if (rc != 0)
        goto unlink_tmp;
    /* From here the file has its final name: a failure leaves an empty segment that the
     * next attempt (or recovery) replaces or adopts. */
    rc = io_fsync_dir(dir);
    if (rc != 0)
        goto close_fd;
    return fd;
unlink_tmp:
    io_unlink(tmp);
close_fd:
    close(fd);
    return rc;
}

void seg_remove_orphans(const char *dir, uint64_t first_seq)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        uint64_t first;
        char path[4096];
        if (parse_name(ent->d_name, ".idx", &first) == 0 && first < first_seq &&
            seg_path(path, sizeof(path), dir, first, ".idx") == 0)
            io_unlink(path);
    }
    closedir(d);
}

uint32_t seg_new_seed(void)
{
    uint32_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
        return seed;
    /* No entropy yet (early boot): any value works, randomness only hardens. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^ (uint32_t)getpid();
}
