/* Publishing: encodes as many PUBLISH packets as the QoS 1 window, the rate budget and the
 * output buffer allow into the connection's buffer, then writes them with one call. Each
 * QoS 1 message's send time goes into a per-connection ring indexed by packet id: ids run
 * 1..L with L a multiple of the ring size, so the ids in flight (at most --inflight, at most
 * the ring size) always sit in distinct slots. No allocation per message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mqtt/mqtt.h"

int publish_setup(struct bench *b, struct conn *c)
{
    const struct bench_opts *o = b->o;
    if (o->idle)
        return 0;
    const char *id = b->devs->v[c->device].id;
    size_t len = strlen("devices/") + strlen(id) + strlen("/messages/events/");
    c->topic = malloc(len + 1);
    if (!c->topic)
        return -1;
    snprintf(c->topic, len + 1, "devices/%s/messages/events/", id);
    c->topic_len = (uint16_t)len;
    if (o->qos == 0)
        return 0;
    uint32_t size = 1;
    while (size < (uint32_t)o->inflight)
        size <<= 1;
    c->ring = calloc(size, sizeof(*c->ring));
    if (!c->ring)
        return -1;
    c->ring_mask = size - 1;
    c->next_pid = 1;
    return 0;
}

void run_queue_push(struct worker *w, struct conn *c)
{
    if (c->runnable)
        return;
    c->runnable = true;
    c->run_next = NULL;
    if (w->run_tail)
        w->run_tail->run_next = c;
    else
        w->run_head = c;
    w->run_tail = c;
}

static uint16_t next_pid(const struct conn *c)
{
    uint32_t size = c->ring_mask + 1;
    uint32_t last = size * (65535 / size);
    return c->next_pid >= last ? 1 : (uint16_t)(c->next_pid + 1);
}

static bool in_window(const struct worker *w, int64_t t)
{
    return w->win_start != 0 && t >= w->win_start && t < w->win_end;
}

void publish_pump(struct worker *w, struct conn *c)
{
    const struct bench *b = w->b;
    const struct bench_opts *o = b->o;
    if (c->state != CS_ACTIVE || !w->publishing || c->blocked)
        return;
    uint32_t limit = o->qos ? (uint32_t)o->inflight - c->inflight : UINT32_MAX;
    if (limit == 0)
        return;
    if (w->rate > 0) {
        if (w->tokens < 1) {
            run_queue_push(w, c);
            return;
        }
        if (limit > w->turn_batch)
            limit = w->turn_batch;
        if (limit > (uint32_t)w->tokens)
            limit = (uint32_t)w->tokens;
    }
    int64_t now = w->now;
    bool counted = in_window(w, now);
    struct mqtt_publish p = {.qos = (uint8_t)o->qos,
                             .topic = {c->topic, c->topic_len},
                             .payload = b->payload,
                             .payload_len = (size_t)o->payload_size};
    uint32_t n = 0;
    size_t bytes = 0;
    for (; n < limit; n++) {
        if (o->qos)
            p.packet_id = c->next_pid;
        size_t len = mqtt_encode_publish(c->out + c->out_len, c->out_cap - c->out_len, &p);
        if (len == 0)
            break; /* buffer full */
        c->out_len += (uint32_t)len;
        bytes += len;
        if (o->qos) {
            struct slot *s = &c->ring[c->next_pid & c->ring_mask];
            s->sent_ns = now;
            s->pid = c->next_pid;
            c->next_pid = next_pid(c);
        }
    }
    if (n == 0)
        return;
    if (o->qos) {
        c->inflight += n;
        w->inflight += n;
    }
    w->st.sent_total += n;
    if (counted) {
        w->st.sent += n;
        w->st.wire_bytes += bytes;
    }
    if (w->rate > 0)
        w->tokens -= n;
    if (conn_flush(w, c) != 0 || c->blocked)
        return;
    /* More to send than this turn allowed: come back on the next loop iteration. */
    if (o->qos == 0 || c->inflight < (uint32_t)o->inflight)
        run_queue_push(w, c);
}

void publish_acked(struct worker *w, struct conn *c, uint16_t pid)
{
    if (!c->ring) {
        w->st.unknown_ack++;
        return;
    }
    struct slot *s = &c->ring[pid & c->ring_mask];
    if (s->sent_ns == 0 || s->pid != pid) {
        w->st.unknown_ack++;
        return;
    }
    if (in_window(w, s->sent_ns))
        hist_add(&w->st.latency, (uint64_t)(w->now - s->sent_ns));
    if (in_window(w, w->now))
        w->st.acked++;
    w->st.acked_total++;
    s->sent_ns = 0;
    c->inflight--;
    w->inflight--;
}
