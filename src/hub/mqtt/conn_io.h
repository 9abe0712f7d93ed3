/* The socket of one connection, plain or TLS, with the fewest bytes held while it is idle.
 *
 * One `struct event` (embedded, not allocated) watches the socket and carries the
 * connection's single deadline. Input not yet consumed and output not yet written live in
 * buffers allocated only while there are such bytes, and freed when they are gone, so an idle
 * connection holds the event, its SSL (TLS) and this struct. Reads of up to 64 KiB go to a
 * per-thread scratch buffer and are handed to the owner whole.
 *
 * TLS: the server side of the handshake runs inside the first reads (SSL_read in accept
 * state); SSL_ERROR_WANT_READ / WANT_WRITE from either direction are honoured. A peer that
 * closes without close_notify ("dirty shutdown") is an ordinary end of stream.
 *
 * Everything runs on the thread that owns the event base. */
#ifndef IOTHUB_HUB_MQTT_CONN_IO_H
#define IOTHUB_HUB_MQTT_CONN_IO_H

#include <event2/event_struct.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONN_IO_READ_CHUNK (64 * 1024)

struct conn_io;

struct conn_io_ops {
    /* Keep the struct holding the conn_io alive across a callback (any callback may end in
     * conn_io_close). */
    void (*ref)(struct conn_io *io);
    void (*unref)(struct conn_io *io);
    /* Bytes read (data, len): returns how many were consumed; the rest is kept and offered
     * again, first, with the next bytes (or by conn_io_resume_input). fresh: bytes were
     * just read from the socket (false when only kept bytes are offered again). */
    size_t (*input)(struct conn_io *io, const uint8_t *data, size_t len, bool fresh);
    /* All output written (only called after a write that had to wait). */
    void (*drained)(struct conn_io *io);
    /* The deadline passed. */
    void (*deadline)(struct conn_io *io);
    /* End of stream or error: why says which (the TLS or socket error, or closed_by_peer).
     * The owner is expected to conn_io_close. */
    void (*closed)(struct conn_io *io, const char *why);
};

/* Bytes waiting, in one allocation with their counts: data[off, len) is pending. */
struct conn_io_buf {
    uint32_t off, len, cap;
    uint8_t data[];
};

struct conn_io {
    struct event ev; /* the socket (EV_READ / EV_WRITE as needed) and the deadline */
    const struct conn_io_ops *ops;
    SSL *ssl;                /* NULL for plain; owned */
    struct conn_io_buf *in;  /* input kept for the owner (partial packet, or paused); or NULL */
    struct conn_io_buf *out; /* output not yet written; or NULL */
    int64_t deadline_ms;     /* time_now_ms() clock; 0 = none */
    uint32_t delay_ms;       /* the timeout the event was last armed with */
    short armed;             /* the event's current EV_READ / EV_WRITE mask */
    bool open : 1;
    bool reading : 1;          /* the owner wants input */
    bool in_input : 1;         /* inside ops->input: no nested delivery */
    bool dispatching : 1;      /* inside the event callback: it writes and re-arms at its end */
    bool write_blocked : 1;    /* the socket is full: wait for EV_WRITE */
    bool read_wants_write : 1; /* TLS: SSL_read needs the socket writable */
    bool write_wants_read : 1; /* TLS: SSL_write needs the socket readable */
    bool closed_by_peer : 1;   /* end of stream seen: no more reads */
};

/* Takes fd (and ssl, may be NULL) whatever the result. Reading starts enabled. 0 or -1. */
int conn_io_open(struct conn_io *io, struct event_base *base, int fd, SSL *ssl,
                 const struct conn_io_ops *ops);
/* Closes the socket, frees the SSL and the buffers. Safe inside a callback, and twice. */
void conn_io_close(struct conn_io *io);

/* Queues bytes; they are written later on this loop iteration. -1 when out of memory. */
int conn_io_write(struct conn_io *io, const void *data, size_t len);
size_t conn_io_output_pending(const struct conn_io *io);

/* Stops or starts reading the socket. */
void conn_io_set_reading(struct conn_io *io, bool on);
/* Offers the kept input to ops->input again (after reading was paused), unless inside it. */
void conn_io_resume_input(struct conn_io *io);

/* One deadline (time_now_ms() clock), replacing the previous one; 0 clears it. */
void conn_io_set_deadline(struct conn_io *io, int64_t deadline_ms);

SSL *conn_io_ssl(const struct conn_io *io);
int conn_io_fd(const struct conn_io *io);

#endif
