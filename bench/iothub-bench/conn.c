/* One connection's life: TCP connect, TLS handshake, MQTT CONNECT/CONNACK, reading acks,
 * writing what publish.c queued. Edge-triggered epoll: every socket is registered once for
 * input and output, and read (or written) until it would block. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"
#include "common/sas.h"
#include "mqtt/mqtt.h"

#define API_VERSION "api-version=2021-04-12"

/* The first failure of each kind is explained on stderr; the rest are only counted. */
static atomic_int explained_tls, explained_tcp;

static void explain(atomic_int *once, const char *what, const char *detail)
{
    if (atomic_exchange(once, 1) == 0)
        fprintf(stderr, "iothub-bench: %s: %s (further ones only counted)\n", what, detail);
}

void conn_close(struct worker *w, struct conn *c)
{
    if (c->state == CS_CLOSED || c->state == CS_NEW)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
    c->state = CS_CLOSED;
    w->inflight -= c->inflight;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
}

/* A connection that never became active: count it as done. */
static void fail(struct worker *w, struct conn *c, uint64_t *counter)
{
    if (c->state != CS_ACTIVE) {
        w->pending--;
        atomic_fetch_add(&w->done, 1);
    }
    (*counter)++;
    conn_close(w, c);
}

/* The connection ended while in state: a refusal before CONNACK, a disconnect after. */
static void lost(struct worker *w, struct conn *c)
{
    if (c->state == CS_ACTIVE) {
        w->st.unacked_end += c->inflight;
        fail(w, c, &w->st.disconnected);
    } else if (c->state == CS_TLS) {
        fail(w, c, &w->st.tls_failed);
    } else {
        fail(w, c, &w->st.connect_failed);
    }
}

void conn_start(struct worker *w, struct conn *c)
{
    const struct bench *b = w->b;
    c->start_ns = w->now;
    if (w->st.first_start_ns == 0)
        w->st.first_start_ns = w->now;
    w->pending++;
    c->state = CS_TCP;
    c->out = malloc(b->out_cap);
    c->out_cap = b->out_cap;
    c->fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || !c->out) {
        explain(&explained_tcp, "socket", c->out ? strerror(errno) : "out of memory");
        if (c->fd >= 0)
            close(c->fd);
        free(c->out);
        c->out = NULL;
        c->fd = -1;
        c->state = CS_CLOSED;
        w->pending--;
        atomic_fetch_add(&w->done, 1);
        w->st.connect_failed++;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)&b->addr, b->addrlen) != 0 &&
        errno != EINPROGRESS) {
        explain(&explained_tcp, "connect", strerror(errno));
        fail(w, c, &w->st.connect_failed);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        explain(&explained_tcp, "epoll_ctl", strerror(errno));
        fail(w, c, &w->st.connect_failed);
    }
}

/* > 0 bytes read, 0 would block, -1 end of stream or error. */
static ssize_t io_read(struct conn *c, uint8_t *buf, size_t cap)
{
    if (c->ssl) {
        int n = SSL_read(c->ssl, buf, (int)cap);
        if (n > 0)
            return n;
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        ERR_clear_error();
        return -1;
    }
    for (;;) {
        ssize_t n = read(c->fd, buf, cap);
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN ? 0 : -1;
    }
}

/* > 0 bytes written, 0 would block, -1 error. */
static ssize_t io_write(struct conn *c, const uint8_t *buf, size_t len)
{
    if (c->ssl) {
        int n = SSL_write(c->ssl, buf, (int)len);
        if (n > 0)
            return n;
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        ERR_clear_error();
        return -1;
    }
    for (;;) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN ? 0 : -1;
    }
}

int conn_flush(struct worker *w, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = io_write(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            lost(w, c);
            return -1;
        }
        if (n == 0) {
            c->blocked = true;
            return 0;
        }
        c->out_off += (uint32_t)n;
        c->last_tx_ns = w->now;
    }
    c->out_off = c->out_len = 0;
    c->blocked = false;
    return 0;
}

static void send_connect(struct worker *w, struct conn *c)
{
    const struct bench *b = w->b;
    const struct bench_opts *o = b->o;
    const struct device *d = &b->devs->v[c->device];
    char user[1280], pass[SAS_TOKEN_MAX];
    struct mqtt_connect m = {.clean_session = true, .keepalive = (uint16_t)o->keepalive};
    m.client_id = (struct mqtt_str){d->id, strlen(d->id)};
    if (!o->no_auth) {
        char resource[1280];
        snprintf(user, sizeof(user), "%s/%s/?" API_VERSION, b->devs->hostname, d->id);
        snprintf(resource, sizeof(resource), "%s/devices/%s", b->devs->hostname, d->id);
        int64_t expiry = (int64_t)time(NULL) + 3600 + (int64_t)(o->duration + o->warmup);
        int n = sas_build(resource, d->key, NULL, expiry, pass, sizeof(pass));
        if (n < 0) {
            fail(w, c, &w->st.connect_failed);
            return;
        }
        m.has_username = m.has_password = true;
        m.username = (struct mqtt_str){user, strlen(user)};
        m.password = (struct mqtt_str){pass, (size_t)n};
    } else {
        if (o->username) {
            m.has_username = true;
            m.username = (struct mqtt_str){o->username, strlen(o->username)};
        }
        if (o->password) {
            m.has_password = true;
            m.password = (struct mqtt_str){o->password, strlen(o->password)};
        }
    }
    size_t len = mqtt_encode_connect(c->out, c->out_cap, &m);
    if (len == 0) {
        fail(w, c, &w->st.connect_failed);
        return;
    }
    c->out_len = (uint32_t)len;
    c->state = CS_MQTT;
    conn_flush(w, c);
}

static void handshake(struct worker *w, struct conn *c)
{
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        send_connect(w, c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    unsigned long code = ERR_peek_error();
    char detail[256];
    if (code)
        ERR_error_string_n(code, detail, sizeof(detail));
    else
        snprintf(detail, sizeof(detail), "SSL error %d, %s", e, strerror(errno));
    ERR_clear_error();
    explain(&explained_tls, "TLS handshake", detail);
    fail(w, c, &w->st.tls_failed);
}

static void tcp_connected(struct worker *w, struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        explain(&explained_tcp, "connect", strerror(err ? err : errno));
        fail(w, c, &w->st.connect_failed);
        return;
    }
    if (!w->b->ssl_ctx) {
        send_connect(w, c);
        return;
    }
    c->ssl = SSL_new(w->b->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        fail(w, c, &w->st.tls_failed);
        return;
    }
    SSL_set_tlsext_host_name(c->ssl, w->b->o->host);
    if (w->b->o->cafile)
        SSL_set1_host(c->ssl, w->b->o->host);
    SSL_set_connect_state(c->ssl);
    c->state = CS_TLS;
    handshake(w, c);
}

static void on_connack(struct worker *w, struct conn *c, const struct mqtt_connack *a)
{
    if (c->state != CS_MQTT) {
        fail(w, c, &w->st.protocol);
        return;
    }
    if (a->return_code != 0) {
        fail(w, c, &w->st.refused[a->return_code <= 5 ? a->return_code : 0]);
        return;
    }
    if (publish_setup(w->b, c) != 0) {
        fail(w, c, &w->st.connect_failed);
        return;
    }
    c->state = CS_ACTIVE;
    if (c->ssl && atomic_exchange(&w->b->tls_noted, 1) == 0)
        snprintf(w->b->tls_info, sizeof(w->b->tls_info), "%s %s", SSL_get_version(c->ssl),
                 SSL_get_cipher_name(c->ssl));
    w->pending--;
    atomic_fetch_add(&w->done, 1);
    w->st.established++;
    hist_add(&w->st.connects, (uint64_t)(w->now - c->start_ns));
    w->st.last_connack_ns = w->now;
}

/* Handles every whole packet in the input buffer. Returns -1 when the connection closed. */
static int on_input(struct worker *w, struct conn *c)
{
    size_t off = 0;
    while (off < c->in_len) {
        struct mqtt_packet p;
        int r = mqtt_parse(c->in + off, c->in_len - off, IN_CAP, &p);
        if (r == MQTT_INCOMPLETE)
            break;
        if (r < 0) {
            fail(w, c, &w->st.protocol);
            return -1;
        }
        off += (size_t)r;
        switch (p.type) {
        case MQTT_CONNACK:
            on_connack(w, c, &p.u.connack);
            break;
        case MQTT_PUBACK:
            publish_acked(w, c, p.u.packet_id);
            break;
        case MQTT_PINGRESP:
        case MQTT_SUBACK:
            break;
        default:
            fail(w, c, &w->st.protocol);
            break;
        }
        if (c->state == CS_CLOSED)
            return -1;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= (uint32_t)off;
    }
    return 0;
}

static int read_all(struct worker *w, struct conn *c)
{
    for (;;) {
        ssize_t n = io_read(c, c->in + c->in_len, IN_CAP - c->in_len);
        if (n == 0)
            return 0;
        if (n < 0) {
            lost(w, c);
            return -1;
        }
        c->in_len += (uint32_t)n;
        if (on_input(w, c) != 0)
            return -1;
        if (c->in_len == IN_CAP) { /* a packet larger than any ack */
            fail(w, c, &w->st.protocol);
            return -1;
        }
    }
}

void conn_event(struct worker *w, struct conn *c, uint32_t events)
{
    w->now = mono_ns();
    switch (c->state) {
    case CS_TCP:
        tcp_connected(w, c);
        return;
    case CS_TLS:
        handshake(w, c);
        return;
    case CS_MQTT:
    case CS_ACTIVE:
        break;
    default:
        return;
    }
    if (c->blocked && conn_flush(w, c) != 0)
        return;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) && read_all(w, c) != 0)
        return;
    publish_pump(w, c);
}

void conn_sweep(struct worker *w, struct conn *c)
{
    const struct bench_opts *o = w->b->o;
    if (c->state == CS_TCP || c->state == CS_TLS || c->state == CS_MQTT) {
        if (w->now - c->start_ns > (int64_t)(o->connect_timeout * 1e9))
            fail(w, c, &w->st.connect_timeout);
        return;
    }
    if (c->state != CS_ACTIVE || o->keepalive == 0 || c->blocked)
        return;
    if (w->now - c->last_tx_ns < (int64_t)o->keepalive * 500000000)
        return;
    size_t n = mqtt_encode_empty(c->out + c->out_len, c->out_cap - c->out_len, MQTT_PINGREQ);
    if (n == 0)
        return;
    c->out_len += (uint32_t)n;
    w->st.pings++;
    conn_flush(w, c);
}
