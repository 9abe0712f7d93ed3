/* Sparse index files: codec, validation, crash-safe rewrite, creation. See index.h. */
#include "index.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "io.h"
#include "segment.h"

int idx_push(struct idx_array *a, const struct idx_entry *e)
{
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 64;
        struct idx_entry *grown = realloc(a->v, ncap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        a->v = grown;
        a->cap = ncap;
    }
    a->v[a->n++] = *e;
    return 0;
}

void idx_free(struct idx_array *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

void idx_encode_header(uint8_t out[EL_IDX_HEADER_SIZE], uint32_t partition, uint64_t first_seq)
{
    memcpy(out, EL_IDX_MAGIC, 8);
    el_put32(out + 8, EL_FORMAT_VERSION);
    el_put32(out + 12, partition);
    el_put64(out + 16, first_seq);
    el_put32(out + 24, 0);
    el_put32(out + 28, crc32c(0, out, 28));
}

void idx_encode_entry(uint8_t out[EL_IDX_ENTRY_SIZE], const struct idx_entry *e)
{
    el_put64(out, e->seq);
    el_put64(out + 8, e->pos);
    el_put64(out + 16, (uint64_t)e->ms);
    el_put32(out + 24, e->flags);
    el_put32(out + 28, crc32c(0, out, 28));
}

/* Whether e may follow prev (NULL for the first entry) in a segment of seg_size bytes. */
static bool entry_fits(const struct idx_entry *e, const struct idx_entry *prev, uint64_t first_seq,
                       uint64_t seg_size)
{
    if ((e->flags & ~EL_IDX_FLAG_LAST) != 0)
        return false;
    if (e->pos > seg_size || seg_size - e->pos < EL_FRAME_MIN)
        return false;
    if (!prev)
        return e->seq == first_seq && e->pos == EL_SEG_HEADER_SIZE;
    if (prev->flags & EL_IDX_FLAG_LAST)
        return false;
    /* Each record between two entries takes EL_FRAME_MIN bytes at least. */
    uint64_t records = e->seq - prev->seq;
    return e->seq > prev->seq && e->pos > prev->pos && e->ms >= prev->ms &&
           records <= (e->pos - prev->pos) / EL_FRAME_MIN;
}

int idx_decode(const uint8_t *buf, size_t len, uint32_t partition, uint64_t first_seq,
               uint64_t seg_size, struct idx_array *out, bool *complete, const char **why)
{
    *complete = false;
    out->n = 0;
    if (len < EL_IDX_HEADER_SIZE || memcmp(buf, EL_IDX_MAGIC, 8) != 0 ||
        crc32c(0, buf, 28) != el_get32(buf + 28)) {
        *why = "index header is damaged";
        return -1;
    }
    if (el_get32(buf + 8) != EL_FORMAT_VERSION || el_get32(buf + 12) != partition ||
        el_get64(buf + 16) != first_seq) {
        *why = "index header belongs to another segment or version";
        return -1;
    }
    size_t pos = EL_IDX_HEADER_SIZE;
    while (len - pos >= EL_IDX_ENTRY_SIZE) {
        const uint8_t *p = buf + pos;
        if (crc32c(0, p, 28) != el_get32(p + 28))
            break;
        struct idx_entry e = {el_get64(p), el_get64(p + 8), (int64_t)el_get64(p + 16),
                              el_get32(p + 24)};
        if (!entry_fits(&e, out->n ? &out->v[out->n - 1] : NULL, first_seq, seg_size))
            break;
        if (idx_push(out, &e) != 0)
            return -ENOMEM;
        pos += EL_IDX_ENTRY_SIZE;
    }
    *complete = pos == len;
    return 0;
}

int idx_read_fd(int fd, uint32_t partition, uint64_t first_seq, uint64_t seg_size,
                struct idx_array *out, bool *complete, const char **why)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    /* A sane index holds at most one entry per minimal frame, plus the header. */
    uint64_t max = EL_IDX_HEADER_SIZE + (seg_size / EL_FRAME_MIN + 1) * EL_IDX_ENTRY_SIZE;
    if (st.st_size < 0 || (uint64_t)st.st_size > max) {
        *why = "index file larger than its segment allows";
        return -1;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    size_t got = 0;
    int rc = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            goto free_buf;
        }
        got += (size_t)n;
    }
    rc = idx_decode(buf, len, partition, first_seq, seg_size, out, complete, why);
free_buf:
    free(buf);
    return rc;
}

int idx_write_file(const char *dir, uint32_t partition, uint64_t first_seq,
                   const struct idx_array *a)
{
    size_t len = EL_IDX_HEADER_SIZE + a->n * EL_IDX_ENTRY_SIZE;
    uint8_t *buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    idx_encode_header(buf, partition, first_seq);
    for (size_t i = 0; i < a->n; i++)
        idx_encode_entry(buf + EL_IDX_HEADER_SIZE + i * EL_IDX_ENTRY_SIZE, &a->v[i]);
    char name[32];
    snprintf(name, sizeof(name), "%020" PRIu64 ".idx", first_seq);
    int rc = io_replace_file(dir, name, buf, len);
    free(buf);
    return rc;
}

int idx_create(const char *dir, uint32_t partition, uint64_t first_seq)
{
    char path[4096];
    if (seg_path(path, sizeof(path), dir, first_seq, ".idx") != 0)
        return -ENAMETOOLONG;
    int fd = io_open_new(path, O_WRONLY);
    if (fd < 0)
        return fd;
    uint8_t hdr[EL_IDX_HEADER_SIZE];
    idx_encode_header(hdr, partition, first_seq);
    int rc = io_pwrite_all(fd, hdr, sizeof(hdr), 0);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

bool idx_wants(const struct idx_array *a, uint64_t pos)
{
    return a->n == 0 || pos - a->v[a->n - 1].pos >= EL_INDEX_INTERVAL;
}
