/* Non-blocking TCP + TLS (OpenSSL) client connection. The socket is wrapped in a small BIO
 * that writes with MSG_NOSIGNAL, so a closed peer never raises SIGPIPE in the host
 * process. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "conn.h"

/* ---- the socket BIO ---------------------------------------------------------------- */

static BIO_METHOD *sock_method;
static pthread_once_t sock_method_once = PTHREAD_ONCE_INIT;

static int sock_write(BIO *b, const char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        return -1;
    }
    return (int)n;
}

static int sock_read(BIO *b, char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(fd, buf, (size_t)len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
        return -1;
    }
    return (int)n;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int sock_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void sock_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "iothub socket");
    if (!m)
        return;
    if (!BIO_meth_set_write(m, sock_write) || !BIO_meth_set_read(m, sock_read) ||
        !BIO_meth_set_ctrl(m, sock_ctrl) || !BIO_meth_set_create(m, sock_create)) {
        BIO_meth_free(m);
        return;
    }
    sock_method = m;
}

/* ---- set-up -------------------------------------------------------------------------- */

static void trace_ssl_errors(struct iotlib_conn *c, const char *what)
{
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (c->trace) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof(buf));
            iotlib_trace("%s: %s", what, buf);
        }
    }
}

static int load_trusted(SSL_CTX *ctx, const char *pem)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio)
        return IOTHUB_ENOMEM;
    int count = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x) == 1)
            count++;
        X509_free(x);
    }
    ERR_clear_error(); /* the end-of-data "no start line" */
    BIO_free(bio);
    return count > 0 ? 0 : IOTHUB_ECERT;
}

static int load_client_cert(SSL_CTX *ctx, const char *cert_pem, const char *key_pem)
{
    int rc = IOTHUB_ECERT;
    BIO *cb = BIO_new_mem_buf(cert_pem, -1);
    BIO *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    if (!cb || !kb) {
        rc = IOTHUB_ENOMEM;
        goto out_bios;
    }
    cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    if (!cert || !key || SSL_CTX_use_certificate(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        goto out_objects;
    /* Further certificates in the PEM form the chain. */
    X509 *extra;
    while ((extra = PEM_read_bio_X509(cb, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            goto out_objects;
        }
    }
    rc = 0;
out_objects:
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
out_bios:
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

static int make_ctx(struct iotlib_conn *c, const struct iotlib_options *o)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        return IOTHUB_ENOMEM;
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int rc;
    if (o->trusted_certs) {
        if ((rc = load_trusted(c->ctx, o->trusted_certs)) != 0)
            return rc;
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        return IOTHUB_ETLS;
    }
    if (o->x509_cert && o->x509_key) {
        if ((rc = load_client_cert(c->ctx, o->x509_cert, o->x509_key)) != 0)
            return rc;
    }
    return 0;
}

/* Starts a non-blocking connect to c->ai_cur or a later address. */
static int tcp_next(struct iotlib_conn *c)
{
    for (; c->ai_cur; c->ai_cur = c->ai_cur->ai_next) {
        struct addrinfo *ai = c->ai_cur;
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            c->fd = fd;
            c->phase = IOTLIB_CONN_TCP;
            c->want_write = true;
            return 0;
        }
        close(fd);
    }
    return IOTHUB_ENETWORK;
}

int iotlib_conn_start(struct iotlib_conn *c, const char *host, int port,
                      const struct iotlib_options *o)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->trace = o->logtrace;
    if (pthread_once(&sock_method_once, sock_method_init) != 0 || !sock_method)
        return IOTHUB_ENOMEM;
    int rc = IOTHUB_ENOMEM;
    c->host = strdup(host);
    if (!c->host)
        goto fail;
    if ((rc = make_ctx(c, o)) != 0) {
        trace_ssl_errors(c, "tls setup");
        goto fail;
    }
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(host, service, &hints, &c->ai_list);
    if (gai != 0) {
        if (c->trace)
            iotlib_trace("resolve %s: %s", host, gai_strerror(gai));
        rc = IOTHUB_ENETWORK;
        goto fail;
    }
    c->ai_cur = c->ai_list;
    if ((rc = tcp_next(c)) != 0)
        goto fail;
    return 0;

fail:
    iotlib_conn_close(c);
    return rc;
}

static int tls_setup(struct iotlib_conn *c)
{
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl)
        return IOTHUB_ENOMEM;
    BIO *bio = BIO_new(sock_method);
    if (!bio)
        return IOTHUB_ENOMEM;
    BIO_set_data(bio, (void *)(intptr_t)c->fd);
    SSL_set_bio(c->ssl, bio, bio);
    unsigned char addr[16];
    if (inet_pton(AF_INET, c->host, addr) == 1 || inet_pton(AF_INET6, c->host, addr) == 1) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->host) != 1)
            return IOTHUB_ETLS;
    } else {
        if (SSL_set_tlsext_host_name(c->ssl, c->host) != 1 || SSL_set1_host(c->ssl, c->host) != 1)
            return IOTHUB_ETLS;
    }
    SSL_set_connect_state(c->ssl);
    c->phase = IOTLIB_CONN_TLS;
    return 0;
}

int iotlib_conn_progress(struct iotlib_conn *c)
{
    if (c->phase == IOTLIB_CONN_TCP) {
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        int n = poll(&p, 1, 0);
        if (n == 0)
            return 0;
        int err = 0;
        socklen_t len = sizeof(err);
        if (n < 0 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            if (c->trace)
                iotlib_trace("connect %s: %s", c->host, strerror(err ? err : errno));
            close(c->fd);
            c->fd = -1;
            c->ai_cur = c->ai_cur->ai_next;
            if (tcp_next(c) != 0)
                return IOTHUB_ENETWORK;
            return 0;
        }
        int rc = tls_setup(c);
        if (rc)
            return rc == IOTHUB_ENOMEM ? IOTHUB_ENETWORK : rc;
    }
    if (c->phase == IOTLIB_CONN_TLS) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r == 1) {
            c->phase = IOTLIB_CONN_OPEN;
            c->want_write = false;
            return 1;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            c->want_write = false;
            return 0;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            c->want_write = true;
            return 0;
        }
        long v = SSL_get_verify_result(c->ssl);
        if (c->trace && v != X509_V_OK)
            iotlib_trace("tls: certificate verification failed: %s",
                         X509_verify_cert_error_string(v));
        trace_ssl_errors(c, "tls handshake");
        return e == SSL_ERROR_SSL ? IOTHUB_ETLS : IOTHUB_ENETWORK;
    }
    return c->phase == IOTLIB_CONN_OPEN ? 1 : IOTHUB_ENETWORK;
}

ssize_t iotlib_conn_read(struct iotlib_conn *c, void *buf, size_t cap)
{
    if (c->phase != IOTLIB_CONN_OPEN)
        return IOTHUB_ENETWORK;
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0)
        return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ)
        return 0;
    if (e == SSL_ERROR_WANT_WRITE) {
        c->want_write = true;
        return 0;
    }
    trace_ssl_errors(c, "tls read");
    return IOTHUB_ENETWORK;
}

ssize_t iotlib_conn_write(struct iotlib_conn *c, const void *buf, size_t len)
{
    if (c->phase != IOTLIB_CONN_OPEN)
        return IOTHUB_ENETWORK;
    if (len == 0)
        return 0;
    ERR_clear_error();
    int n = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0) {
        c->want_write = false;
        return n;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        c->want_write = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    trace_ssl_errors(c, "tls write");
    return IOTHUB_ENETWORK;
}

void iotlib_conn_close(struct iotlib_conn *c)
{
    if (c->ssl) {
        if (c->phase == IOTLIB_CONN_OPEN)
            SSL_shutdown(c->ssl); /* best effort close_notify, never waits */
        SSL_free(c->ssl);
    }
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    if (c->ai_list)
        freeaddrinfo(c->ai_list);
    free(c->host);
    ERR_clear_error();
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}
