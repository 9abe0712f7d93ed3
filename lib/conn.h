/* A non-blocking TCP + TLS client connection for the device client's engine. */
#ifndef IOTHUB_LIB_CONN_H
#define IOTHUB_LIB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "internal.h"

enum iotlib_conn_phase {
    IOTLIB_CONN_CLOSED = 0,
    IOTLIB_CONN_TCP,  /* connect() in progress */
    IOTLIB_CONN_TLS,  /* handshake in progress */
    IOTLIB_CONN_OPEN, /* ready for read/write */
};

struct iotlib_conn {
    enum iotlib_conn_phase phase;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    struct addrinfo *ai_list;
    struct addrinfo *ai_cur;
    char *host;
    bool want_write; /* the last operation needs the socket writable */
    bool trace;
};

/* Resolves host (blocking getaddrinfo) and starts a non-blocking connect and TLS set-up
 * with the options' CA, client certificate and key. Returns 0 (then call progress until
 * it returns 1), IOTHUB_ENETWORK, IOTHUB_ETLS, IOTHUB_ECERT or IOTHUB_ENOMEM. */
int iotlib_conn_start(struct iotlib_conn *c, const char *host, int port,
                      const struct iotlib_options *o);

/* Advances TCP connect and the TLS handshake: 1 open, 0 in progress, or IOTHUB_ENETWORK /
 * IOTHUB_ETLS. */
int iotlib_conn_progress(struct iotlib_conn *c);

/* Reads decrypted bytes: > 0 bytes, 0 nothing available now, IOTHUB_ENETWORK on error or
 * when the peer closed. */
ssize_t iotlib_conn_read(struct iotlib_conn *c, void *buf, size_t cap);

/* Writes: >= 0 bytes written (0: would block), IOTHUB_ENETWORK on error. */
ssize_t iotlib_conn_write(struct iotlib_conn *c, const void *buf, size_t len);

/* Closes everything; c may be reused by conn_start. */
void iotlib_conn_close(struct iotlib_conn *c);

#endif
