/* A connection's socket without a bufferevent: see conn_io.h for why. */
#include "hub/mqtt/conn_io.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/isotime.h"
#include "hub/net/accept.h"

/* Where reads land before the owner consumes them; one per network thread. */
static _Thread_local uint8_t scratch[CONN_IO_READ_CHUNK];

static bool output_pending(const struct conn_io *io)
{
    return io->out && io->out->off < io->out->len;
}

/* Room for len more bytes after the pending ones (which move to the front). NULL when out of
 * memory (the buffer is unchanged). */
static struct conn_io_buf *buf_reserve(struct conn_io_buf **pb, size_t len)
{
    struct conn_io_buf *b = *pb;
    size_t pending = b ? b->len - b->off : 0;
    if (b && b->off) {
        memmove(b->data, b->data + b->off, pending);
        b->off = 0;
        b->len = (uint32_t)pending;
    }
    size_t cap = b ? b->cap : 0;
    if (pending + len <= cap)
        return b;
    if (cap < 256 - sizeof(*b))
        cap = 256 - sizeof(*b);
    while (cap < pending + len)
        cap *= 2;
    if (cap > UINT32_MAX - sizeof(*b))
        return NULL;
    struct conn_io_buf *grown = realloc(b, sizeof(*b) + cap);
    if (!grown)
        return NULL;
    if (!b)
        grown->off = grown->len = 0;
    grown->cap = (uint32_t)cap;
    *pb = grown;
    return grown;
}

/* (Re)starts the event's timeout at the deadline. event_add on a pending event only moves
 * its timeout; with no deadline the timeout stays and does nothing when it fires. */
static void arm_timeout(struct conn_io *io)
{
    if (!io->deadline_ms)
        return;
    int64_t wait = io->deadline_ms - time_now_ms();
    if (wait < 0)
        wait = 0;
    io->delay_ms = (uint32_t)(wait > UINT32_MAX ? UINT32_MAX : wait);
    struct timeval tv = {(time_t)(io->delay_ms / 1000), (suseconds_t)(io->delay_ms % 1000) * 1000};
    event_add(&io->ev, &tv);
}

static short wanted_mask(const struct conn_io *io)
{
    short want = 0;
    if ((io->reading && !io->closed_by_peer) || io->write_wants_read)
        want |= EV_READ;
    if (io->read_wants_write || io->write_blocked)
        want |= EV_WRITE;
    return want;
}

static void on_event(evutil_socket_t fd, short what, void *arg);

/* Makes the event watch what the connection waits for. libevent cannot change an added
 * event's mask: delete, assign, add (only on pause, resume and blocked writes). */
static void update_mask(struct conn_io *io)
{
    short want = wanted_mask(io);
    if (want == io->armed)
        return;
    struct event_base *base = event_get_base(&io->ev);
    int fd = event_get_fd(&io->ev);
    event_del(&io->ev);
    event_assign(&io->ev, base, fd, (short)(want | EV_PERSIST), on_event, io);
    io->armed = want;
    if (io->deadline_ms)
        arm_timeout(io);
    else if (want)
        event_add(&io->ev, NULL);
    /* event_del dropped the activations queued by conn_io_write and read_socket. */
    if (output_pending(io) && !(want & EV_WRITE) && !io->dispatching)
        event_active(&io->ev, EV_WRITE, 1);
    if (io->ssl && io->reading && SSL_has_pending(io->ssl))
        event_active(&io->ev, EV_READ, 1);
}

/* Buffers go when empty: an idle connection holds none. */
static void free_output(struct conn_io *io)
{
    free(io->out);
    io->out = NULL;
}

static void free_input(struct conn_io *io)
{
    free(io->in);
    io->in = NULL;
}

/* Why a TLS call failed: NULL for an end of stream (close_notify, or a peer that just
 * closed: dirty shutdowns are allowed), else the TLS or socket error in why. */
static const char *tls_failure(int ret, int err, char *why, size_t cap)
{
    int saved_errno = errno;
    unsigned long e = ERR_get_error();
    if (err == SSL_ERROR_ZERO_RETURN)
        return NULL;
    if (err == SSL_ERROR_SYSCALL && !e) {
        if (ret == 0 || saved_errno == 0)
            return NULL;
        net_io_close_reason(0, saved_errno, NULL, why, cap);
        return why;
    }
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    if (err == SSL_ERROR_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return NULL;
#endif
    if (e)
        net_io_close_reason(e, 0, NULL, why, cap);
    else
        snprintf(why, cap, "TLS error: SSL_get_error() returned %d", err);
    return why;
}

/* Tells the owner the stream ended (why NULL) or failed. */
static void report_closed(struct conn_io *io, const char *why)
{
    io->closed_by_peer = true;
    io->ops->closed(io, why);
}

/* Hands len bytes (after any kept ones) to the owner; keeps what it does not consume. */
static void deliver(struct conn_io *io, const uint8_t *data, size_t len, bool fresh)
{
    if (io->in) {
        if (len) {
            if (!buf_reserve(&io->in, len)) {
                report_closed(io, "out of memory for a connection's input");
                return;
            }
            memcpy(io->in->data + io->in->len, data, len);
            io->in->len += (uint32_t)len;
        }
        data = io->in->data + io->in->off;
        len = io->in->len - io->in->off;
    }
    io->in_input = true;
    size_t used = io->ops->input(io, data, len, fresh);
    io->in_input = false;
    if (!io->open) {
        free_input(io); /* conn_io_close left it while the owner was reading it */
        return;
    }
    if (used == len) {
        free_input(io);
    } else if (io->in) {
        io->in->off += (uint32_t)used;
    } else {
        if (!buf_reserve(&io->in, len - used)) {
            report_closed(io, "out of memory for a connection's input");
            return;
        }
        memcpy(io->in->data, data + used, len - used);
        io->in->len = (uint32_t)(len - used);
    }
}

void conn_io_resume_input(struct conn_io *io)
{
    if (!io->open || io->in_input || !io->in)
        return;
    io->ops->ref(io);
    deliver(io, NULL, 0, false);
    io->ops->unref(io);
}

/* One read of up to CONN_IO_READ_CHUNK bytes (TLS: records until then or until the socket
 * is dry), handed to the owner; then the end of stream or the error, if any. */
static void read_socket(struct conn_io *io)
{
    char whybuf[256];
    const char *why = NULL;
    bool ended = false;
    /* A short kept tail (a packet cut by the previous read) goes in front of the new bytes
     * in scratch, so that they are not copied; a long one (a large packet arriving) grows
     * in io->in instead. */
    size_t kept = io->in ? io->in->len - io->in->off : 0;
    size_t start = kept <= sizeof(scratch) / 4 ? kept : 0;
    size_t got = start;
    if (io->ssl) {
        io->read_wants_write = false;
        while (got < sizeof(scratch)) {
            ERR_clear_error();
            int n = SSL_read(io->ssl, scratch + got, (int)(sizeof(scratch) - got));
            if (n > 0) {
                got += (size_t)n;
                /* With read-ahead, nothing buffered means the last read(2) took what had
                 * arrived: back to the event loop rather than a read that finds nothing. */
                if (!SSL_has_pending(io->ssl))
                    break;
                continue;
            }
            int err = SSL_get_error(io->ssl, n);
            if (err == SSL_ERROR_WANT_READ)
                break;
            if (err == SSL_ERROR_WANT_WRITE) {
                io->read_wants_write = true;
                break;
            }
            why = tls_failure(n, err, whybuf, sizeof(whybuf));
            ended = true;
            break;
        }
    } else {
        ssize_t n = read(event_get_fd(&io->ev), scratch + start, sizeof(scratch) - start);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0) {
            ended = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            net_io_close_reason(0, errno, NULL, whybuf, sizeof(whybuf));
            why = whybuf;
            ended = true;
        }
    }
    if (got > start && start) {
        memcpy(scratch, io->in->data + io->in->off, start);
        free_input(io);
        deliver(io, scratch, got, true);
    } else if (got > start) {
        deliver(io, scratch, got, true);
    }
    if (!io->open)
        return;
    if (ended) {
        report_closed(io, why);
        return;
    }
    /* Records OpenSSL already holds do not make the socket readable again. */
    if (io->ssl && io->reading && SSL_has_pending(io->ssl))
        event_active(&io->ev, EV_READ, 1);
}

/* Writes what is queued until done or the socket is full. */
static void flush(struct conn_io *io)
{
    char whybuf[256];
    io->write_blocked = io->write_wants_read = false;
    while (output_pending(io)) {
        const uint8_t *p = io->out->data + io->out->off;
        size_t left = io->out->len - io->out->off;
        if (io->ssl) {
            ERR_clear_error();
            int n = SSL_write(io->ssl, p, (int)(left > INT32_MAX ? INT32_MAX : left));
            if (n > 0) {
                io->out->off += (uint32_t)n;
                continue;
            }
            int err = SSL_get_error(io->ssl, n);
            if (err == SSL_ERROR_WANT_WRITE) {
                io->write_blocked = true;
                return;
            }
            if (err == SSL_ERROR_WANT_READ) {
                io->write_wants_read = true;
                return;
            }
            const char *why = tls_failure(n, err, whybuf, sizeof(whybuf));
            report_closed(io, why);
            return;
        }
        ssize_t n = send(event_get_fd(&io->ev), p, left, MSG_NOSIGNAL);
        if (n > 0) {
            io->out->off += (uint32_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            io->write_blocked = true;
            return;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            net_io_close_reason(0, n < 0 ? errno : EPIPE, NULL, whybuf, sizeof(whybuf));
            report_closed(io, whybuf);
            return;
        }
    }
    free_output(io);
    if (io->ops->drained)
        io->ops->drained(io);
}

static void on_timeout(struct conn_io *io)
{
    if (!io->deadline_ms)
        return;
    if (time_now_ms() < io->deadline_ms) {
        arm_timeout(io); /* fired early: the timeout was for an older, nearer deadline */
        return;
    }
    io->deadline_ms = 0;
    io->ops->deadline(io);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct conn_io *io = arg;
    io->ops->ref(io);
    io->dispatching = true;
    if (what & EV_TIMEOUT)
        on_timeout(io);
    if (io->open && (((what & EV_READ) && (io->reading || io->write_wants_read)) ||
                     ((what & EV_WRITE) && io->read_wants_write)))
        read_socket(io);
    if (io->open && output_pending(io) && (!io->write_blocked || (what & EV_WRITE)) &&
        (!io->write_wants_read || (what & EV_READ)))
        flush(io);
    io->dispatching = false;
    if (io->open) {
        update_mask(io);
        /* A persistent event's timeout restarts at each activation with the delay it was
         * armed with: pull it back when that passes the deadline. */
        if (!(what & EV_TIMEOUT) && io->deadline_ms &&
            time_now_ms() + io->delay_ms > io->deadline_ms)
            arm_timeout(io);
    }
    io->ops->unref(io);
}

int conn_io_open(struct conn_io *io, struct event_base *base, int fd, SSL *ssl,
                 const struct conn_io_ops *ops)
{
    io->ops = ops;
    io->ssl = ssl;
    if (evutil_make_socket_nonblocking(fd) != 0)
        goto fail;
    if (ssl) {
        if (SSL_set_fd(ssl, fd) != 1)
            goto fail;
        SSL_set_accept_state(ssl);
        /* The output buffer grows (and moves) while a write waits to be retried. */
        SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        /* One read(2) for every record that has arrived, not one for each record's header
         * and another for its body. */
        SSL_set_read_ahead(ssl, 1);
    }
    if (event_assign(&io->ev, base, fd, EV_READ | EV_PERSIST, on_event, io) != 0)
        goto fail;
    io->armed = EV_READ;
    io->reading = true;
    io->open = true;
    if (event_add(&io->ev, NULL) != 0) {
        io->open = false;
        goto fail;
    }
    return 0;
fail:
    close(fd);
    if (ssl)
        SSL_free(ssl);
    io->ssl = NULL;
    return -1;
}

void conn_io_close(struct conn_io *io)
{
    if (!io->open)
        return;
    io->open = false;
    int fd = event_get_fd(&io->ev);
    event_del(&io->ev);
    if (io->ssl) {
        SSL_free(io->ssl);
        io->ssl = NULL;
    }
    close(fd);
    free_output(io);
    if (!io->in_input) /* else deliver frees it once the owner is done with it */
        free_input(io);
}

int conn_io_write(struct conn_io *io, const void *data, size_t len)
{
    if (!io->open || len == 0)
        return 0;
    bool was_empty = !output_pending(io);
    if (!buf_reserve(&io->out, len))
        return -1;
    memcpy(io->out->data + io->out->len, data, len);
    io->out->len += (uint32_t)len;
    /* Written once per loop iteration, for everything queued meanwhile: inside a callback
     * of this connection at its end, else by an activation. */
    if (was_empty && !io->dispatching && !io->write_blocked && !io->write_wants_read)
        event_active(&io->ev, EV_WRITE, 1);
    return 0;
}

size_t conn_io_output_pending(const struct conn_io *io)
{
    return io->out ? io->out->len - io->out->off : 0;
}

void conn_io_set_reading(struct conn_io *io, bool on)
{
    io->reading = on;
    if (io->open && !io->dispatching)
        update_mask(io);
}

void conn_io_set_deadline(struct conn_io *io, int64_t deadline_ms)
{
    io->deadline_ms = deadline_ms;
    if (io->open)
        arm_timeout(io);
}

SSL *conn_io_ssl(const struct conn_io *io)
{
    return io->open ? io->ssl : NULL;
}

int conn_io_fd(const struct conn_io *io)
{
    return io->open ? event_get_fd(&io->ev) : -1;
}
