/* Windowed reading and checking of record frames from a segment image. See scan.h. */
#include "scan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"

/* Bytes read ahead when the window moves: many small records per pread. */
#define WINDOW_READ (64u * 1024u)

void scan_init(struct scan *s, const struct scan_source *src, uint64_t size, uint32_t seed)
{
    memset(s, 0, sizeof(*s));
    s->src = *src;
    s->size = size;
    s->seed = seed;
}

void scan_free(struct scan *s)
{
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
    s->win_len = 0;
}

void scan_reset(struct scan *s, const struct scan_source *src, uint64_t size, uint32_t seed)
{
    s->src = *src;
    s->size = size;
    s->seed = seed;
    s->win_pos = 0;
    s->win_len = 0;
}

void scan_set_size(struct scan *s, uint64_t size)
{
    if (size < s->win_pos + s->win_len)
        s->win_len = size > s->win_pos ? (size_t)(size - s->win_pos) : 0;
    s->size = size;
}

int scan_peek(struct scan *s, uint64_t pos, size_t want, const uint8_t **p, size_t *avail)
{
    if (pos >= s->size) {
        *p = s->buf;
        *avail = 0;
        return 0;
    }
    uint64_t left = s->size - pos;
    if (want > left)
        want = (size_t)left;
    if (pos >= s->win_pos && pos - s->win_pos <= s->win_len &&
        s->win_len - (pos - s->win_pos) >= want) {
        *p = s->buf + (pos - s->win_pos);
        *avail = want;
        return 0;
    }
    size_t len = want > WINDOW_READ ? want : WINDOW_READ;
    if (len > left)
        len = (size_t)left;
    if (len > s->cap) {
        uint8_t *grown = realloc(s->buf, len);
        if (!grown)
            return -ENOMEM;
        s->buf = grown;
        s->cap = len;
    }
    s->win_pos = pos;
    s->win_len = 0;
    while (s->win_len < len) {
        long n = s->src.read(s->src.ctx, s->buf + s->win_len, len - s->win_len, pos + s->win_len);
        if (n < 0) {
            s->err = (int)n;
            s->win_len = 0;
            return SCAN_IO_ERROR;
        }
        if (n == 0)
            break;
        s->win_len += (size_t)n;
    }
    /* The source ended early (a file shrunk under us): what it gave is all there is. */
    *p = s->buf;
    *avail = want < s->win_len ? want : s->win_len;
    return 0;
}

int scan_record(struct scan *s, uint64_t pos, struct record_head *head, const uint8_t **frame,
                const char **why)
{
    const uint8_t *p;
    size_t avail;
    int rc = scan_peek(s, pos, EL_FRAME_HEAD, &p, &avail);
    if (rc == -ENOMEM) {
        s->err = rc;
        rc = SCAN_IO_ERROR;
    }
    if (rc != 0) {
        *why = "read failed";
        return rc;
    }
    if (avail >= 4) {
        uint32_t len = el_get32(p);
        if (len >= EL_PAYLOAD_MIN && len <= (uint32_t)EVENTLOG_RECORD_MAX - EL_FRAME_HEAD) {
            rc = scan_peek(s, pos, EL_FRAME_HEAD + (size_t)len, &p, &avail);
            if (rc == -ENOMEM) {
                s->err = rc;
                rc = SCAN_IO_ERROR;
            }
            if (rc != 0) {
                *why = "read failed";
                return rc;
            }
        }
    }
    rc = record_check(p, avail, s->seed, head, why);
    if (rc == RECORD_OK)
        *frame = p;
    return rc;
}

long scan_read_fd(void *ctx, uint8_t *buf, size_t len, uint64_t pos)
{
    int fd = *(const int *)ctx;
    for (;;) {
        ssize_t n = pread(fd, buf, len, (off_t)pos);
        if (n >= 0)
            return (long)n;
        if (errno != EINTR)
            return -errno;
    }
}

long scan_read_mem(void *ctx, uint8_t *buf, size_t len, uint64_t pos)
{
    const struct scan_mem *m = ctx;
    if (pos >= m->size)
        return 0;
    size_t n = m->size - (size_t)pos < len ? m->size - (size_t)pos : len;
    memcpy(buf, m->data + pos, n);
    return (long)n;
}
