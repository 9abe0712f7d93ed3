/* Shared state of a load run: the run context (read-only once the workers start, apart from
 * the atomics), the per-thread workers and their connections. */
#ifndef IOTHUB_BENCH_BENCH_H
#define IOTHUB_BENCH_BENCH_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "devices.h"
#include "hist.h"
#include "opts.h"

#define IN_CAP 1024 /* the server only sends acks: CONNACK, PUBACK, SUBACK, PINGRESP */

enum conn_state {
    CS_NEW = 0,
    CS_TCP,    /* non-blocking connect() under way */
    CS_TLS,    /* TLS handshake */
    CS_MQTT,   /* CONNECT sent, waiting for CONNACK */
    CS_ACTIVE, /* CONNACK 0 received */
    CS_CLOSED,
};

/* A QoS 1 message waiting for its PUBACK, in a ring indexed by packet id. */
struct slot {
    int64_t sent_ns; /* 0: free */
    uint16_t pid;
};

struct conn {
    uint8_t state;
    bool blocked;  /* output pending, waiting for the socket to drain */
    bool runnable; /* on the worker's run queue */
    int fd;
    SSL *ssl;
    uint32_t device; /* index into the device set */
    int64_t start_ns, last_tx_ns;
    uint8_t *out; /* allocated once at connect */
    uint32_t out_len, out_off, out_cap;
    uint32_t in_len;
    uint32_t inflight;
    uint16_t next_pid;
    struct slot *ring; /* QoS 1: ring_mask + 1 slots */
    uint32_t ring_mask;
    char *topic;
    uint16_t topic_len;
    struct conn *run_next;
    uint8_t in[IN_CAP];
};

/* Counters kept per worker, summed at the end. "Window" counters cover the measured interval
 * only; totals cover the whole run. */
struct stats {
    uint64_t sent, acked;             /* window: PUBLISH written, PUBACK received */
    uint64_t sent_total, acked_total; /* whole run */
    uint64_t wire_bytes;              /* window: bytes written */
    uint64_t unacked_end;             /* QoS 1 still unacknowledged when closing */
    uint64_t established;
    uint64_t refused[6]; /* CONNACK codes 1..5 (index 0 unused) */
    uint64_t connect_failed, tls_failed, connect_timeout;
    uint64_t disconnected; /* the server closed an established connection */
    uint64_t protocol;     /* unparsable or unexpected packet from the server */
    uint64_t unknown_ack;  /* PUBACK for no message in flight */
    uint64_t pings;
    int64_t first_start_ns, last_connack_ns;
    struct hist latency;  /* PUBACK latency of messages sent in the window */
    struct hist connects; /* socket() to CONNACK */
};

struct bench;

struct worker {
    struct bench *b;
    int id;
    pthread_t thread;
    int epfd;
    struct conn *conns;
    size_t nconns, next_connect, pending;
    double connect_rate; /* this worker's share */
    int max_pending;
    int64_t t0;
    double rate, tokens; /* this worker's share of --rate, token bucket */
    uint32_t turn_batch; /* with --rate: messages per connection per turn (1 ms of its share) */
    int64_t last_refill;
    struct conn *run_head, *run_tail;
    uint64_t inflight; /* sum over connections */
    bool publishing;   /* cached phase: before the end of the window */
    int64_t now, win_start, win_end;
    int64_t next_sweep;
    atomic_size_t done; /* connections established or failed */
    struct stats st;
};

struct bench {
    const struct bench_opts *o;
    const struct device_set *devs;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    SSL_CTX *ssl_ctx;
    uint8_t *payload;
    uint32_t out_cap;                /* per-connection output buffer */
    atomic_llong win_start, win_end; /* measurement window, 0 until every connection is done */
    atomic_int stop;
    atomic_int tls_noted;
    char tls_info[96]; /* protocol and cipher of the first TLS connection */
    struct worker *workers;
};

static inline int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* conn.c */
void conn_start(struct worker *w, struct conn *c);
void conn_event(struct worker *w, struct conn *c, uint32_t events);
void conn_close(struct worker *w, struct conn *c);
/* Timeouts and keep-alive, once a second. */
void conn_sweep(struct worker *w, struct conn *c);
/* Writes out[out_off..out_len). Returns -1 when the connection was closed. */
int conn_flush(struct worker *w, struct conn *c);

/* publish.c */
int publish_setup(struct bench *b, struct conn *c);
/* Sends what the window, the rate and the buffer allow. */
void publish_pump(struct worker *w, struct conn *c);
void publish_acked(struct worker *w, struct conn *c, uint16_t pid);
void run_queue_push(struct worker *w, struct conn *c);

/* worker.c */
void *worker_main(void *arg);

/* report.c */
struct server_sample;
/* samples: before connecting, at the window's start, at its end. */
void report_print(const struct bench *b, const struct stats *st, double elapsed_s, double user_s,
                  double sys_s, const struct server_sample *samples);

#endif
