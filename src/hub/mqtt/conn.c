/* Connection lifecycle: accept, read loop, timers, close. The packet handlers are in
 * handle_*.c. */
#include "hub/mqtt/conn.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "hub/hub.h"
#include "hub/net/accept.h"
#include "hub/mqtt/endpoint.h"
#include "hub/net/threads.h"
#include "hub/presence.h"
#include "mqtt/frame.h"

/* Reads larger than libevent's default 16 KiB let one read carry many packets. */
#define READ_CHUNK     (64 * 1024)
#define FLUSH_LIMIT_MS 5000

void mqtt_conn_ref(struct mqtt_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void mqtt_conn_unref(struct mqtt_conn *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        free(c->pid_ring);
        free(c);
    }
}

static const char *device_or_peer(const struct mqtt_conn *c)
{
    return c->id.device_id[0] ? c->id.device_id : "-";
}

/* Everything but the memory: socket, timer, registrations, the thread's reference. */
static void finalize(struct mqtt_conn *c)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->timer) {
        event_free(c->timer);
        c->timer = NULL;
    }
    struct mqtt_thread *mt = c->mt;
    mqtt_c2d_release(c);
    mqtt_methods_release(c);
    if (c->registered) {
        struct hub *hub = mt->ep->hub;
        /* A connection replaced by a newer one of the same device leaves the device's
         * presence and session to the newer one. */
        if (device_map_remove(&mt->ep->devices, c->id.device_id, c)) {
            presence_disconnected(hub->presence, c->id.device_id, time_now_ms());
            if (c->clean_session)
                registry_delete_session(hub->registry, c->id.device_id);
        }
        c->registered = false;
    }
    if (c->prev)
        c->prev->next = c->next;
    else if (mt->conns == c)
        mt->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    mqtt_conn_unref(c);
}

static void log_close(const struct mqtt_conn *c, const char *why)
{
    char quoted[512];
    log_info("mqtt connection closed", "device=%s peer=%s reason=%s", device_or_peer(c), c->peer,
             log_quote(why, quoted, sizeof(quoted)));
}

void mqtt_conn_close(struct mqtt_conn *c, const char *why)
{
    if (c->finalized)
        return;
    c->finalized = true;
    if (c->state != CONN_CLOSED)
        log_close(c, why);
    c->state = CONN_CLOSED;
    finalize(c);
}

static void on_flushed(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct mqtt_conn *c = arg;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        mqtt_conn_close(c, "flushed");
}

void mqtt_conn_close_after_flush(struct mqtt_conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    log_close(c, why);
    c->state = CONN_CLOSED;
    if (!c->bev || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        mqtt_conn_close(c, why);
        return;
    }
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setcb(c->bev, NULL, on_flushed, NULL, c);
    struct timeval tv = {FLUSH_LIMIT_MS / 1000, 0};
    evtimer_add(c->timer, &tv);
}

void mqtt_conn_send(struct mqtt_conn *c, const uint8_t *data, size_t len)
{
    if (c->bev && !c->finalized)
        bufferevent_write(c->bev, data, len);
}

static void close_mail(void *obj, uint64_t arg1, int64_t arg2)
{
    (void)arg2;
    struct mqtt_conn *c = obj;
    mqtt_conn_close(c, (const char *)(uintptr_t)arg1);
    mqtt_conn_unref(c);
}

void mqtt_conn_post_close(struct mqtt_conn *c, const char *why)
{
    mqtt_conn_ref(c);
    struct mail m = {close_mail, c, (uint64_t)(uintptr_t)why, 0};
    if (mailbox_post(&c->mt->thread->mailbox, &m) != 0) {
        log_error("cannot ask a network thread to close a connection: out of memory", "device=%s",
                  device_or_peer(c));
        mqtt_conn_unref(c);
    }
}

void mqtt_conn_schedule_timer(struct mqtt_conn *c)
{
    if (!c->timer || c->state == CONN_CLOSED)
        return;
    int64_t now = time_now_ms(), deadline;
    if (c->state == CONN_AWAIT_CONNECT) {
        deadline = c->accepted_ms + MQTT_CONNECT_TIMEOUT_MS;
    } else {
        deadline = c->last_inbound_ms + c->keepalive_ms;
        if (c->id.expiry_ms && c->id.expiry_ms < deadline)
            deadline = c->id.expiry_ms;
    }
    int64_t wait = deadline > now ? deadline - now : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mqtt_conn *c = arg;
    int64_t now = time_now_ms();
    if (c->state == CONN_CLOSED) {
        mqtt_conn_close(c, "flush timed out");
    } else if (c->state == CONN_AWAIT_CONNECT) {
        mqtt_conn_close(c, "no CONNECT within 10 s of accepting the connection");
    } else if (c->id.expiry_ms && now >= c->id.expiry_ms) {
        mqtt_conn_close(c, "the SAS token expired: reconnect with a new token");
    } else if (now - c->last_inbound_ms >= c->keepalive_ms) {
        mqtt_conn_close(c, "keep-alive timeout: nothing received for 1.5 x keep-alive");
    } else {
        mqtt_conn_schedule_timer(c);
    }
}

static int dispatch(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
    uint8_t out[4];
    if (c->state == CONN_AWAIT_CONNECT) {
        if (pkt->type != MQTT_CONNECT) {
            mqtt_conn_close(c, "the first packet was not CONNECT");
            return -1;
        }
        return mqtt_handle_connect(c, &pkt->u.connect);
    }
    switch (pkt->type) {
    case MQTT_PUBLISH:
        return mqtt_handle_publish(c, &pkt->u.publish);
    case MQTT_SUBSCRIBE:
        return mqtt_handle_subscribe(c, &pkt->u.list);
    case MQTT_UNSUBSCRIBE:
        return mqtt_handle_unsubscribe(c, &pkt->u.list);
    case MQTT_PINGREQ:
        mqtt_conn_send(c, out, mqtt_encode_empty(out, sizeof(out), MQTT_PINGRESP));
        return 0;
    case MQTT_PUBACK:
        return mqtt_handle_puback(c, pkt->u.packet_id);
    case MQTT_DISCONNECT:
        mqtt_conn_close(c, "the device disconnected");
        return -1;
    case MQTT_CONNECT:
        mqtt_conn_close(c, "a second CONNECT on one connection");
        return -1;
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        mqtt_conn_close(c, "QoS 2 is not supported");
        return -1;
    default:
        mqtt_conn_close(c, "a packet only a server may send");
        return -1;
    }
}

/* Parses and handles every whole packet in the input buffer. */
static void process_input(struct mqtt_conn *c)
{
    char why[128];
    mqtt_conn_ref(c); /* a handler may close c */
    while (c->state != CONN_CLOSED && !c->reading_paused) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        size_t len = evbuffer_get_length(in);
        size_t head = len < MQTT_FIXED_HEADER_MAX ? len : MQTT_FIXED_HEADER_MAX;
        if (head == 0)
            break;
        /* Not MQTT at all (an HTTP request, TLS to the plain port): no need to wait. */
        if (c->state == CONN_AWAIT_CONNECT && (*evbuffer_pullup(in, 1) >> 4) != MQTT_CONNECT) {
            mqtt_conn_close(c, "the first packet was not CONNECT");
            break;
        }
        if (head < 2)
            break;
        size_t total = 0;
        int fr = mqtt_frame_size(evbuffer_pullup(in, (ssize_t)head), head, MQTT_PACKET_MAX, &total);
        if (fr == MQTT_INCOMPLETE)
            break;
        if (fr < 0) {
            snprintf(why, sizeof(why), "malformed packet: %s", mqtt_strerror(fr));
            mqtt_conn_close(c, why);
            break;
        }
        if (total > len)
            break;
        const uint8_t *data = evbuffer_pullup(in, (ssize_t)total);
        struct mqtt_packet pkt;
        int n = data ? mqtt_parse(data, total, MQTT_PACKET_MAX, &pkt) : MQTT_ERR_MALFORMED;
        if (n == MQTT_ERR_PROTOCOL_LEVEL && c->state == CONN_AWAIT_CONNECT) {
            uint8_t ack[4];
            mqtt_conn_send(c, ack,
                           mqtt_encode_connack(ack, sizeof(ack), false, MQTT_CONNACK_BAD_PROTOCOL));
            mqtt_conn_close_after_flush(c, "MQTT protocol level is not 4 (3.1.1)");
            break;
        }
        if (n <= 0) {
            snprintf(why, sizeof(why), "malformed packet: %s", mqtt_strerror(n));
            mqtt_conn_close(c, why);
            break;
        }
        int rc = dispatch(c, &pkt);
        if (c->state == CONN_CLOSED || c->finalized)
            break;
        evbuffer_drain(in, total);
        if (rc != 0)
            break;
    }
    mqtt_conn_unref(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct mqtt_conn *c = arg;
    int64_t now = time_now_ms();
    c->last_inbound_ms = now;
    if (c->state == CONN_ACTIVE && now - c->last_touch_ms >= 1000) {
        presence_touch(c->mt->ep->hub->presence, c->id.device_id, now);
        c->last_touch_ms = now;
    }
    process_input(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct mqtt_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    char why[256];
    net_close_reason(bev, what, c->tls, "the connection was closed by the device", why,
                     sizeof(why));
    mqtt_conn_close(c, why);
}

void mqtt_conn_update_flow(struct mqtt_conn *c)
{
    if (c->state != CONN_ACTIVE || !c->bev)
        return;
    if (!c->reading_paused && c->inflight >= MQTT_INFLIGHT_MAX) {
        c->reading_paused = true;
        bufferevent_disable(c->bev, EV_READ);
    } else if (c->reading_paused && c->inflight <= MQTT_INFLIGHT_MAX / 2) {
        c->reading_paused = false;
        bufferevent_enable(c->bev, EV_READ);
        process_input(c); /* packets that arrived before the pause */
    }
}

void mqtt_conn_accept(struct mqtt_thread *mt, int fd, bool tls, const char *peer)
{
    struct event_base *base = mt->thread->base;
    struct mqtt_conn *c = calloc(1, sizeof(*c));
    SSL *ssl = NULL;
    if (!c)
        goto fail;
    atomic_init(&c->refs, 1);
    c->mt = mt;
    c->tls = tls;
    str_copy(c->peer, sizeof(c->peer), peer);
    c->accepted_ms = time_now_ms();
    if (tls) {
        ssl = SSL_new(mt->ep->ssl_ctx);
        if (!ssl)
            goto fail;
        c->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        ssl = NULL; /* owned by the bufferevent, even when it failed */
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->bev) {
        evutil_closesocket(fd);
        goto fail_fd_owned;
    }
    c->timer = evtimer_new(base, on_timer, c);
    if (!c->timer)
        goto fail_fd_owned;
    bufferevent_set_max_single_read(c->bev, READ_CHUNK);
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ);
    c->next = mt->conns;
    if (mt->conns)
        mt->conns->prev = c;
    mt->conns = c;
    mqtt_conn_schedule_timer(c);
    return;
fail:
    evutil_closesocket(fd);
fail_fd_owned:
    log_error("cannot accept an MQTT connection: out of memory", "peer=%s", peer);
    if (c) {
        if (c->bev)
            bufferevent_free(c->bev);
        free(c);
    }
}
