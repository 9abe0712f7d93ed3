/* Connection lifecycle: accept, read loop, timers, close. The packet handlers are in
 * handle_*.c. */
#include "hub/mqtt/conn.h"

#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/isotime.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "hub/hub.h"
#include "hub/net/accept.h"
#include "hub/net/heap_trim.h"
#include "hub/mqtt/endpoint.h"
#include "hub/net/threads.h"
#include "hub/presence.h"
#include "hub/throttle.h"
#include "hub/throttle_memory.h"
#include "mqtt/frame.h"
#include "store/eventlog.h"

#define FLUSH_LIMIT_MS 5000

static struct mqtt_conn *conn_of(struct conn_io *io)
{
    return (struct mqtt_conn *)((char *)io - offsetof(struct mqtt_conn, io));
}

void mqtt_conn_ref(struct mqtt_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void mqtt_conn_unref(struct mqtt_conn *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        free(c->pid_ring);
        free(c->model_id);
        free(c);
    }
}

static const char *device_or_peer(const struct mqtt_conn *c)
{
    return c->id.device_id[0] ? c->id.device_id : "-";
}

const char *mqtt_conn_peer(const struct mqtt_conn *c)
{
    static _Thread_local char buf[64];
    net_peer_format(&c->peer, buf, sizeof(buf));
    return buf;
}

SSL *mqtt_conn_ssl(const struct mqtt_conn *c)
{
    return conn_io_ssl(&c->io);
}

void mqtt_conn_pause_reading(struct mqtt_conn *c)
{
    if (c->reading_paused)
        return;
    c->reading_paused = true;
    conn_io_set_reading(&c->io, false);
}

/* Everything but the memory: socket, timer, registrations, the thread's reference. */
static void finalize(struct mqtt_conn *c)
{
    conn_io_close(&c->io);
    if (c->throttle_timer) {
        event_free(c->throttle_timer);
        c->throttle_timer = NULL;
    }
    struct mqtt_thread *mt = c->mt;
    mqtt_c2d_release(c);
    mqtt_methods_release(c);
    if (c->registered) {
        struct hub *hub = mt->ep->hub;
        if (hub->throttle && hub->throttle->d2c_device_memory)
            throttle_memory_save(hub->throttle->d2c_device_memory, c->id.device_id,
                                 c->throttle_tat_ns, time_mono_ns());
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
    if (!mt->conns)
        heap_trim_cancel();
    mqtt_conn_unref(c);
}

static void log_close(const struct mqtt_conn *c, const char *why)
{
    char quoted[512];
    log_info("mqtt connection closed", "device=%s peer=%s reason=%s", device_or_peer(c),
             mqtt_conn_peer(c), log_quote(why, quoted, sizeof(quoted)));
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

/* All output written: what close_after_flush waits for. */
static void on_drained(struct conn_io *io)
{
    struct mqtt_conn *c = conn_of(io);
    if (c->state == CONN_CLOSED)
        mqtt_conn_close(c, "flushed");
}

void mqtt_conn_close_after_flush(struct mqtt_conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    log_close(c, why);
    c->state = CONN_CLOSED;
    if (c->finalized || conn_io_output_pending(&c->io) == 0) {
        mqtt_conn_close(c, why);
        return;
    }
    conn_io_set_reading(&c->io, false);
    conn_io_set_deadline(&c->io, time_now_ms() + FLUSH_LIMIT_MS);
}

void mqtt_conn_send(struct mqtt_conn *c, const uint8_t *data, size_t len)
{
    if (c->finalized)
        return;
    if (conn_io_write(&c->io, data, len) != 0)
        mqtt_conn_post_close(c, "out of memory for the connection's output");
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
    if (c->finalized || c->state == CONN_CLOSED)
        return;
    int64_t deadline;
    if (c->state == CONN_AWAIT_CONNECT) {
        if (c->io.deadline_ms)
            return; /* set when accepted */
        deadline = time_now_ms() + MQTT_CONNECT_TIMEOUT_MS;
    } else {
        deadline = c->last_inbound_ms + c->keepalive_ms;
        if (c->id.expiry_ms && c->id.expiry_ms < deadline)
            deadline = c->id.expiry_ms;
    }
    conn_io_set_deadline(&c->io, deadline);
}

static void on_deadline(struct conn_io *io)
{
    struct mqtt_conn *c = conn_of(io);
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

bool mqtt_conn_alone(const struct mqtt_conn *c)
{
    return c->mt->conns == c && !c->next;
}

/* Hands what this input appended to the event log over for commit, as one batch. A device
 * alone on its network thread waiting for PUBACKs gets its batch committed here, inline:
 * the hand-off to the partition's writer thread and back costs two thread wake-ups per
 * commit (on the benchmark VM ~30 us against a ~95 us fdatasync), and with no other MQTT
 * connection on this thread, blocking it for the disk stalls no other device (an AMQP or
 * HTTPS connection on the thread waits one fdatasync at most). With company, the writer
 * thread commits while this thread serves the others. */
static void flush_log(struct mqtt_conn *c)
{
    if (!c->log_held)
        return;
    c->log_held = false;
    eventlog_flush(c->mt->ep->hub->eventlog, c->partition, mqtt_conn_alone(c) && c->inflight > 0);
}

/* Parses and handles every whole packet of data; returns the bytes consumed (a partial
 * packet, or packets left while reading is paused, are kept by conn_io). */
static size_t process_input(struct mqtt_conn *c, const uint8_t *data, size_t len)
{
    char why[128];
    size_t off = 0;
    while (c->state != CONN_CLOSED && !c->reading_paused && off < len) {
        const uint8_t *p = data + off;
        size_t avail = len - off;
        /* Not MQTT at all (an HTTP request, TLS to the plain port): no need to wait. */
        if (c->state == CONN_AWAIT_CONNECT && (p[0] >> 4) != MQTT_CONNECT) {
            mqtt_conn_close(c, "the first packet was not CONNECT");
            break;
        }
        if (avail < 2)
            break;
        size_t head = avail < MQTT_FIXED_HEADER_MAX ? avail : MQTT_FIXED_HEADER_MAX;
        size_t total = 0;
        int fr = mqtt_frame_size(p, head, MQTT_PACKET_MAX, &total);
        if (fr == MQTT_INCOMPLETE)
            break;
        if (fr < 0) {
            snprintf(why, sizeof(why), "malformed packet: %s", mqtt_strerror(fr));
            mqtt_conn_close(c, why);
            break;
        }
        if (total > avail)
            break;
        struct mqtt_packet pkt;
        int n = mqtt_parse(p, total, MQTT_PACKET_MAX, &pkt);
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
        off += total;
        if (rc != 0)
            break;
    }
    flush_log(c);
    return off;
}

static size_t on_input(struct conn_io *io, const uint8_t *data, size_t len, bool fresh)
{
    struct mqtt_conn *c = conn_of(io);
    if (fresh) {
        struct busy_poll *bp = &c->mt->thread->busy_poll;
        if (bp->expect_ns)
            busy_poll_input(bp, time_mono_ns());
        int64_t now = time_now_ms();
        c->last_inbound_ms = now;
        if (c->state == CONN_ACTIVE && now - c->last_touch_ms >= 1000) {
            presence_touch(c->mt->ep->hub->presence, c->id.device_id, now);
            c->last_touch_ms = now;
        }
    }
    return process_input(c, data, len);
}

static void on_closed(struct conn_io *io, const char *why)
{
    mqtt_conn_close(conn_of(io), why ? why : "the connection was closed by the device");
}

static void io_ref(struct conn_io *io)
{
    mqtt_conn_ref(conn_of(io));
}

static void io_unref(struct conn_io *io)
{
    mqtt_conn_unref(conn_of(io));
}

static const struct conn_io_ops conn_ops = {
    .ref = io_ref,
    .unref = io_unref,
    .input = on_input,
    .drained = on_drained,
    .deadline = on_deadline,
    .closed = on_closed,
};

void mqtt_conn_update_flow(struct mqtt_conn *c)
{
    if (c->state != CONN_ACTIVE || c->finalized)
        return;
    if (!c->reading_paused && c->inflight >= MQTT_INFLIGHT_MAX) {
        mqtt_conn_pause_reading(c);
    } else if (c->reading_paused && !c->throttle_paused && c->inflight <= MQTT_INFLIGHT_MAX / 2) {
        c->reading_paused = false;
        conn_io_set_reading(&c->io, true);
        conn_io_resume_input(&c->io); /* packets that arrived before the pause */
    }
}

void mqtt_conn_accept(struct mqtt_thread *mt, int fd, bool tls, const char *peer)
{
    struct mqtt_conn *c = calloc(1, sizeof(*c));
    SSL *ssl = NULL;
    if (!c || (tls && !(ssl = SSL_new(mt->ep->ssl_ctx)))) {
        log_error("cannot accept an MQTT connection: out of memory", "peer=%s", peer);
        close(fd);
        free(c);
        return;
    }
    atomic_init(&c->refs, 1);
    c->mt = mt;
    c->tls = tls;
    net_peer_from_fd(&c->peer, fd);
    /* Takes fd and ssl, also when it fails. */
    if (conn_io_open(&c->io, mt->thread->base, fd, ssl, &conn_ops) != 0) {
        log_error("cannot accept an MQTT connection: the socket cannot be watched", "peer=%s",
                  peer);
        free(c);
        return;
    }
    c->next = mt->conns;
    if (mt->conns)
        mt->conns->prev = c;
    mt->conns = c;
    mqtt_conn_schedule_timer(c);
    heap_trim_note_accept(mt->thread->base);
}
