/* One AMQP connection: bytes in and out through the bufferevent (TLS or plain), our SASL
 * layer first, then Proton's connection driver; Proton's events are dispatched here. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/isotime.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "hub/amqp/endpoint.h"
#include "hub/amqp/internal.h"
#include "hub/hub.h"
#include "hub/net/accept.h"
#include "hub/net/threads.h"

#define READ_CHUNK     (64 * 1024)
#define FLUSH_LIMIT_MS 5000

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void amqp_conn_ref(struct amqp_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void amqp_conn_unref(struct amqp_conn *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}

static void finalize(struct amqp_conn *c)
{
    while (c->receivers)
        amqp_receiver_close(c->receivers, NULL, NULL);
    amqp_feedback_close_all(c);
    if (c->driver_ready) {
        pn_connection_driver_destroy(&c->driver);
        c->driver_ready = false;
    }
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->timer) {
        event_free(c->timer);
        c->timer = NULL;
    }
    amqp_grants_free(&c->grants);
    struct amqp_thread *at = c->at;
    if (c->prev)
        c->prev->next = c->next;
    else if (at->conns == c)
        at->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    amqp_conn_unref(c);
}

static void log_close(const struct amqp_conn *c, const char *why)
{
    char quoted[512];
    log_info("amqp connection closed", "peer=%s reason=%s", c->peer,
             log_quote(why, quoted, sizeof(quoted)));
}

void amqp_conn_close(struct amqp_conn *c, const char *why)
{
    if (c->finalized)
        return;
    c->finalized = true;
    log_close(c, c->closing && c->why[0] ? c->why : why);
    finalize(c);
}

static void on_flushed(struct bufferevent *bev, void *arg)
{
    struct amqp_conn *c = arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        amqp_conn_close(c, c->why);
}

/* Stops reading, writes what is queued (a refusing SASL outcome, Proton's close), then
 * closes. */
static void close_after_flush(struct amqp_conn *c, const char *why)
{
    if (c->closing || c->finalized)
        return;
    c->closing = true;
    str_copy(c->why, sizeof(c->why), why);
    if (!c->bev || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        amqp_conn_close(c, why);
        return;
    }
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setcb(c->bev, NULL, on_flushed, NULL, c);
    struct timeval tv = {FLUSH_LIMIT_MS / 1000, 0};
    evtimer_add(c->timer, &tv);
}

static void schedule_timer(struct amqp_conn *c)
{
    if (!c->timer || c->closing || c->finalized)
        return;
    int64_t now = mono_ms(), deadline = 0;
    if (!c->opened)
        deadline = c->accepted_ms + AMQP_OPEN_TIMEOUT_MS;
    if (c->driver_ready) {
        int64_t tick = pn_transport_tick(c->driver.transport, now);
        if (tick && (!deadline || tick < deadline))
            deadline = tick;
    }
    int64_t wall = time_now_ms();
    int64_t expiry = amqp_grants_next_expiry(&c->grants, wall);
    if (expiry && c->receivers) {
        int64_t e = now + (expiry - wall) + 1;
        if (!deadline || e < deadline)
            deadline = e;
    }
    if (!deadline) {
        evtimer_del(c->timer);
        return;
    }
    int64_t wait = deadline > now ? deadline - now : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

static void write_output(struct amqp_conn *c)
{
    for (;;) {
        pn_bytes_t b = pn_connection_driver_write_buffer(&c->driver);
        if (!b.size)
            break;
        if (c->bev)
            bufferevent_write(c->bev, b.start, b.size);
        pn_connection_driver_write_done(&c->driver, b.size);
    }
}

static void close_session_receivers(struct amqp_conn *c, pn_session_t *s)
{
    for (struct amqp_receiver *r = c->receivers, *next; r; r = next) {
        next = r->next;
        if (r->link && pn_link_session(r->link) == s)
            amqp_receiver_close(r, NULL, NULL);
    }
}

static void log_condition(const struct amqp_conn *c, const char *what, pn_condition_t *cond)
{
    if (!cond || !pn_condition_is_set(cond))
        return;
    char quoted[512];
    const char *desc = pn_condition_get_description(cond);
    log_info(what, "peer=%s condition=%s description=%s", c->peer,
             pn_condition_get_name(cond) ? pn_condition_get_name(cond) : "-",
             log_quote(desc ? desc : "", quoted, sizeof(quoted)));
}

static void handle_event(struct amqp_conn *c, pn_event_t *e)
{
    if (amqp_feedback_event(c, e))
        return;
    switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN: {
        pn_connection_t *pc = pn_event_connection(e);
        pn_connection_set_container(pc, "iothubd");
        pn_connection_open(pc);
        c->opened = true;
        break;
    }
    case PN_CONNECTION_REMOTE_CLOSE: {
        pn_connection_t *pc = pn_event_connection(e);
        log_condition(c, "amqp peer closed the connection with an error",
                      pn_connection_remote_condition(pc));
        pn_connection_close(pc);
        break;
    }
    case PN_SESSION_REMOTE_OPEN: {
        pn_session_t *s = pn_event_session(e);
        if (pn_session_state(s) & PN_LOCAL_UNINIT)
            pn_session_open(s);
        break;
    }
    case PN_SESSION_REMOTE_CLOSE: {
        pn_session_t *s = pn_event_session(e);
        close_session_receivers(c, s);
        if (!(pn_session_state(s) & PN_LOCAL_CLOSED))
            pn_session_close(s);
        break;
    }
    case PN_LINK_REMOTE_OPEN:
        amqp_link_remote_open(c, pn_event_link(e));
        break;
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH: {
        pn_link_t *link = pn_event_link(e);
        struct amqp_receiver *r = pn_link_get_context(link);
        if (r)
            amqp_receiver_close(r, NULL, NULL);
        if (!(pn_link_state(link) & PN_LOCAL_CLOSED)) {
            if (pn_event_type(e) == PN_LINK_REMOTE_DETACH)
                pn_link_detach(link);
            else
                pn_link_close(link);
        }
        break;
    }
    case PN_LINK_FLOW: {
        pn_link_t *link = pn_event_link(e);
        struct amqp_receiver *r = pn_link_get_context(link);
        if (r && pn_link_is_sender(link))
            amqp_receiver_pump(r);
        break;
    }
    case PN_DELIVERY: {
        pn_delivery_t *d = pn_event_delivery(e);
        pn_link_t *link = pn_delivery_link(d);
        if (pn_link_is_receiver(link))
            amqp_link_delivery(c, d);
        else if (pn_delivery_remote_state(d) || pn_delivery_settled(d))
            pn_delivery_settle(d);
        break;
    }
    case PN_LINK_FINAL: {
        struct amqp_receiver *r = pn_link_get_context(pn_event_link(e));
        if (r)
            amqp_receiver_close(r, NULL, NULL);
        break;
    }
    case PN_TRANSPORT_ERROR:
        log_condition(c, "amqp protocol error", pn_transport_condition(pn_event_transport(e)));
        break;
    default:
        break;
    }
}

void amqp_conn_pump(struct amqp_conn *c)
{
    if (c->finalized || !c->driver_ready)
        return;
    if (c->in_pump) {
        c->pump_again = true;
        return;
    }
    c->in_pump = true;
    amqp_conn_ref(c);
    do {
        c->pump_again = false;
        pn_event_t *e;
        while (!c->finalized && (e = pn_connection_driver_next_event(&c->driver)))
            handle_event(c, e);
        if (!c->finalized)
            write_output(c);
    } while (c->pump_again && !c->finalized);
    c->in_pump = false;
    if (!c->finalized) {
        if (pn_connection_driver_finished(&c->driver)) {
            pn_condition_t *cond = pn_transport_condition(c->driver.transport);
            const char *desc = cond ? pn_condition_get_description(cond) : NULL;
            close_after_flush(c, desc && *desc ? desc : "the client closed the AMQP connection");
        } else {
            schedule_timer(c);
        }
    }
    amqp_conn_unref(c);
}

static const char *hub_name(const struct amqp_conn *c)
{
    return c->at->ep->hub->hub_name;
}

/* SASL decisions (spec 5.1): MSSBCBS and ANONYMOUS authenticate later through CBS; PLAIN
 * carries a policy SAS token ({policy}@sas.root.{hubName}) or, Event Hubs style, a policy
 * name and its key. */
static bool check_sasl(void *ctx, const struct amqp_sasl_init *init, char *why, size_t cap)
{
    struct amqp_conn *c = ctx;
    if (strcmp(init->mechanism, "ANONYMOUS") == 0 || strcmp(init->mechanism, "MSSBCBS") == 0)
        return true;
    char user[256], *pass = malloc(SAS_TOKEN_MAX + 1);
    if (!pass) {
        snprintf(why, cap, "out of memory checking SASL PLAIN");
        return false;
    }
    bool ok = false;
    if (!init->response || amqp_sasl_plain_split(init->response, init->response_len, user,
                                                 sizeof(user), pass, SAS_TOKEN_MAX + 1) != 0) {
        snprintf(why, cap, "malformed SASL PLAIN response (want NUL user NUL password)");
        goto out;
    }
    const struct hub *hub = c->at->ep->hub;
    char suffix[HUB_NAME_MAX + 16];
    snprintf(suffix, sizeof(suffix), "@sas.root.%s", hub_name(c));
    size_t ul = strlen(user), sl = strlen(suffix);
    if (ul > sl && strcasecmp(user + ul - sl, suffix) == 0) {
        ok = amqp_grants_put_token(&c->grants, hub, pass, time_now_ms(), why, cap) == 200;
    } else if (strstr(user, "@sas.")) {
        snprintf(why, cap, "SASL PLAIN user '%.100s': device AMQP is not served yet", user);
    } else {
        ok = amqp_grants_put_key(&c->grants, hub, user, pass, why, cap) == 200;
    }
out:
    memset(pass, 0, SAS_TOKEN_MAX + 1);
    free(pass);
    return ok;
}

/* Returns false when the connection is closing. */
static bool feed_sasl(struct amqp_conn *c, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    size_t take = len < AMQP_SASL_FRAME_MAX + 8 ? len : AMQP_SASL_FRAME_MAX + 8;
    const uint8_t *data = evbuffer_pullup(in, (ssize_t)take);
    uint8_t out[AMQP_SASL_OUT_MAX];
    size_t consumed = 0, outlen = 0;
    enum amqp_sasl_result rc =
        amqp_sasl_feed(&c->sasl, data, take, &consumed, out, &outlen, check_sasl, c);
    if (outlen)
        bufferevent_write(c->bev, out, outlen);
    evbuffer_drain(in, consumed);
    if (rc == AMQP_SASL_FAILED) {
        char quoted[400];
        log_warn("amqp sasl refused", "peer=%s mechanism=%s reason=%s", c->peer,
                 c->sasl.mechanism[0] ? c->sasl.mechanism : "-",
                 log_quote(c->sasl.why, quoted, sizeof(quoted)));
        close_after_flush(c, c->sasl.why);
        return false;
    }
    return rc == AMQP_SASL_DONE;
}

static void feed_driver(struct amqp_conn *c, struct evbuffer *in)
{
    while (!c->finalized && !c->closing && evbuffer_get_length(in) > 0) {
        pn_rwbytes_t rb = pn_connection_driver_read_buffer(&c->driver);
        if (rb.size == 0) {
            amqp_conn_pump(c); /* processing events frees input space */
            if (c->finalized || c->closing)
                return;
            rb = pn_connection_driver_read_buffer(&c->driver);
            if (rb.size == 0)
                return;
        }
        int n = evbuffer_remove(in, rb.start, rb.size);
        if (n <= 0)
            return;
        pn_connection_driver_read_done(&c->driver, (size_t)n);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct amqp_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    amqp_conn_ref(c);
    if (!amqp_sasl_done(&c->sasl) && !feed_sasl(c, in))
        goto out;
    feed_driver(c, in);
    amqp_conn_pump(c);
out:
    amqp_conn_unref(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct amqp_conn *c = arg;
    /* Receivers paused by a full output buffer go on. */
    for (struct amqp_receiver *r = c->receivers; r && !c->finalized; r = r->next)
        amqp_receiver_pump(r);
    amqp_conn_pump(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct amqp_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    char why[256];
    net_close_reason(bev, what, c->tls, "the client closed the connection", why, sizeof(why));
    amqp_conn_close(c, why);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct amqp_conn *c = arg;
    if (c->closing) {
        amqp_conn_close(c, "flush timed out");
        return;
    }
    if (!c->opened && mono_ms() - c->accepted_ms >= AMQP_OPEN_TIMEOUT_MS) {
        amqp_conn_close(c, "no AMQP open within 30 s of accepting the connection");
        return;
    }
    amqp_receivers_check_grants(c, time_now_ms());
    amqp_conn_pump(c); /* ticks the transport: heartbeats, the peer's idle time-out */
}

static int driver_setup(struct amqp_conn *c)
{
    pn_transport_t *t = pn_transport();
    if (!t)
        return -1;
    pn_transport_set_server(t);
    pn_transport_require_auth(t, false);
    pn_transport_require_encryption(t, false);
    pn_transport_set_idle_timeout(t, AMQP_IDLE_TIMEOUT_MS);
    if (pn_connection_driver_init(&c->driver, NULL, t) != 0)
        return -1; /* the driver freed t */
    c->driver_ready = true;
    pn_connection_driver_bind(&c->driver);
    pn_connection_set_context(c->driver.connection, c);
    return 0;
}

void amqp_conn_accept(struct amqp_thread *at, int fd, bool tls, const char *peer)
{
    struct event_base *base = at->thread->base;
    struct amqp_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        evutil_closesocket(fd);
        goto fail;
    }
    atomic_init(&c->refs, 1);
    c->at = at;
    c->tls = tls;
    str_copy(c->peer, sizeof(c->peer), peer);
    c->accepted_ms = mono_ms();
    amqp_sasl_init(&c->sasl);
    if (tls) {
        SSL *ssl = SSL_new(at->ep->hub->ssl_ctx);
        if (!ssl) {
            evutil_closesocket(fd);
            goto fail;
        }
        c->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->bev) {
        evutil_closesocket(fd);
        goto fail;
    }
    c->timer = evtimer_new(base, on_timer, c);
    if (!c->timer || driver_setup(c) != 0)
        goto fail;
    bufferevent_set_max_single_read(c->bev, READ_CHUNK);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ);
    c->next = at->conns;
    if (at->conns)
        at->conns->prev = c;
    at->conns = c;
    schedule_timer(c);
    return;
fail:
    log_error("cannot accept an AMQP connection: out of memory", "peer=%s", peer);
    if (c) {
        if (c->driver_ready)
            pn_connection_driver_destroy(&c->driver);
        if (c->timer)
            event_free(c->timer);
        if (c->bev)
            bufferevent_free(c->bev);
        free(c);
    }
}
