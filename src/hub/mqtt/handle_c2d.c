/* Cloud-to-device delivery over MQTT (spec 2.8). While the device holds the C2D
 * subscription, its queued messages are published in enqueue order on
 * devices/{id}/messages/devicebound/{bag}, up to C2D_WINDOW at a time, each taken from the
 * queue under this process's lock with its delivery count stored first. A PUBACK completes
 * one (Success feedback when asked for); when the connection closes, what was not
 * acknowledged goes back to the queue and is sent again, DUP set, on the next connection.
 *
 * c->c2d (struct mqtt_c2d) is owned by the connection's thread: allocated on the first
 * delivery, freed by mqtt_c2d_release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "hub/amqp/c2d_decode.h"
#include "hub/amqp/feedback.h"
#include "hub/hub.h"
#include "hub/mqtt/c2d.h"
#include "hub/mqtt/conn.h"
#include "hub/mqtt/endpoint.h"
#include "hub/mqtt/topics.h"
#include "hub/net/threads.h"
#include "store/c2d_store.h"

/* Deliveries in flight per connection. */
#define C2D_WINDOW 16
/* The bag must leave room in the 65535-byte topic for the prefix. */
#define BAG_MAX (65535 - 200)

struct inflight {
    uint16_t packet_id;
    int64_t seq;
};

struct mqtt_c2d {
    struct inflight v[C2D_WINDOW];
    unsigned n;
    uint16_t last_packet_id;
};

static struct registry *registry_of(struct mqtt_conn *c)
{
    return c->mt->ep->hub->registry;
}

/* A packet id not used by any delivery in flight. */
static uint16_t next_packet_id(struct mqtt_c2d *s)
{
    for (;;) {
        uint16_t id = ++s->last_packet_id;
        if (id == 0)
            continue;
        bool used = false;
        for (unsigned i = 0; i < s->n && !used; i++)
            used = s->v[i].packet_id == id;
        if (!used)
            return id;
    }
}

static int add_opt(char **bag, size_t *len, size_t *cap, const char *key, const char *value)
{
    if (!value)
        return 0;
    return c2d_bag_append(bag, len, cap, BAG_MAX, key, strlen(key), value, strlen(value));
}

/* The topic of m for device_id (malloc'ed; NULL when out of memory or too long). */
static char *build_topic(const char *device_id, const struct c2d_message *m, size_t *topic_len)
{
    char *bag = NULL, to[DEVICE_ID_MAX + 64], when[ISOTIME_SIZE];
    size_t len = 0, cap = 0;
    snprintf(to, sizeof(to), "/devices/%s/messages/deviceBound", device_id);
    bool ok =
        add_opt(&bag, &len, &cap, "$.mid", m->message_id) == 0 &&
        add_opt(&bag, &len, &cap, "$.to", to) == 0 &&
        add_opt(&bag, &len, &cap, "$.cid", m->correlation_id) == 0 &&
        add_opt(&bag, &len, &cap, "$.uid", m->user_id) == 0 &&
        add_opt(&bag, &len, &cap, "$.ct", m->content_type) == 0 &&
        add_opt(&bag, &len, &cap, "$.ce", m->content_encoding) == 0 &&
        add_opt(&bag, &len, &cap, "$.exp",
                m->expiry_given ? isotime_format(m->expiry_ms, when, sizeof(when)) : NULL) == 0 &&
        add_opt(&bag, &len, &cap, "iothub-ack", m->ack_given ? c2d_ack_name(m->ack) : NULL) == 0;
    size_t app = m->app_properties ? strlen(m->app_properties) : 0;
    char *topic = NULL;
    if (ok && len + app + 1 <= BAG_MAX) {
        size_t want = strlen(device_id) + 32 + len + 1 + app + 1;
        topic = malloc(want);
        if (topic) {
            int n = snprintf(topic, want, "devices/%s/messages/devicebound/%s%s%s", device_id,
                             bag ? bag : "", app ? "&" : "", app ? m->app_properties : "");
            *topic_len = (size_t)n;
        }
    }
    free(bag);
    return topic;
}

/* Publishes m. Returns 0, or -1 (m cannot be sent: its topic is too long or memory ran
 * out). */
static int publish(struct mqtt_conn *c, const struct c2d_message *m, uint16_t packet_id,
                   uint8_t qos)
{
    size_t topic_len = 0;
    char *topic = build_topic(c->id.device_id, m, &topic_len);
    if (!topic)
        return -1;
    struct mqtt_publish p = {
        .dup = qos == 1 && m->delivery_count > 1, /* handed out before: a redelivery */
        .qos = qos,
        .topic = {topic, topic_len},
        .packet_id = qos == 1 ? packet_id : 0,
        .payload = m->body,
        .payload_len = m->body_len,
    };
    size_t cap = topic_len + m->body_len + 16;
    uint8_t *buf = malloc(cap);
    size_t n = buf ? mqtt_encode_publish(buf, cap, &p) : 0;
    if (n)
        mqtt_conn_send(c, buf, n);
    free(buf);
    free(topic);
    return n ? 0 : -1;
}

static void wake_feedback(bool added)
{
    if (added)
        amqp_feedback_wake();
}

void mqtt_c2d_resume(struct mqtt_conn *c)
{
    if (c->state != CONN_ACTIVE || !(c->subscriptions & SUB_C2D))
        return;
    if (!c->c2d && !(c->c2d = calloc(1, sizeof(*c->c2d)))) {
        log_error("cannot deliver c2d messages: out of memory", "device=%s", c->id.device_id);
        return;
    }
    struct mqtt_c2d *s = c->c2d;
    while (s->n < C2D_WINDOW && c->state == CONN_ACTIVE) {
        struct c2d_message msgs[C2D_WINDOW];
        size_t got = 0;
        bool added = false;
        int rc = c2d_take(registry_of(c), c->id.device_id, time_now_ms(), C2D_WINDOW - s->n, msgs,
                          &got, &added);
        wake_feedback(added);
        if (rc != REG_OK) {
            log_error("cannot read the c2d queue; delivery resumes with the next message",
                      "device=%s error=%s", c->id.device_id, registry_strerror(rc));
            return;
        }
        if (got == 0)
            return;
        for (size_t i = 0; i < got; i++) {
            uint16_t pid = next_packet_id(s);
            uint8_t qos = (c->subscriptions & SUB_C2D_QOS0) ? 0 : 1;
            if (publish(c, &msgs[i], pid, qos) != 0) {
                /* Cannot be sent now: it goes back (and dies after enough attempts). */
                log_error("cannot send a c2d message", "device=%s seq=%lld", c->id.device_id,
                          (long long)msgs[i].seq);
                bool dead = false;
                c2d_release(registry_of(c), &msgs[i].seq, 1, time_now_ms(), &dead);
                wake_feedback(dead);
            } else if (qos == 0) {
                /* Spec 2.8: a QoS 0 delivery is complete once written. */
                bool fed = false;
                int done = c2d_complete(registry_of(c), msgs[i].seq, time_now_ms(), &fed);
                wake_feedback(fed);
                if (done != REG_OK && done != REG_NOT_FOUND)
                    log_error("cannot complete a c2d message sent at QoS 0; it will be sent again",
                              "device=%s seq=%lld error=%s", c->id.device_id,
                              (long long)msgs[i].seq, registry_strerror(done));
            } else {
                s->v[s->n++] = (struct inflight){pid, msgs[i].seq};
                log_debug("c2d message sent", "device=%s seq=%lld packet_id=%u delivery=%u",
                          c->id.device_id, (long long)msgs[i].seq, pid, msgs[i].delivery_count);
            }
            c2d_message_free(&msgs[i]);
        }
    }
}

int mqtt_handle_puback(struct mqtt_conn *c, uint16_t packet_id)
{
    struct mqtt_c2d *s = c->c2d;
    unsigned i = 0;
    while (s && i < s->n && s->v[i].packet_id != packet_id)
        i++;
    if (!s || i == s->n) {
        log_debug("mqtt puback for no c2d delivery ignored", "device=%s packet_id=%u",
                  c->id.device_id, packet_id);
        return 0;
    }
    int64_t seq = s->v[i].seq;
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(s->v[0]));
    s->n--;
    bool added = false;
    int rc = c2d_complete(registry_of(c), seq, time_now_ms(), &added);
    wake_feedback(added);
    if (rc != REG_OK && rc != REG_NOT_FOUND)
        log_error("cannot complete a c2d message; it will be delivered again",
                  "device=%s seq=%lld error=%s", c->id.device_id, (long long)seq,
                  registry_strerror(rc));
    mqtt_c2d_resume(c);
    return 0;
}

void mqtt_c2d_release(struct mqtt_conn *c)
{
    struct mqtt_c2d *s = c->c2d;
    if (!s)
        return;
    c->c2d = NULL;
    if (s->n) {
        int64_t seqs[C2D_WINDOW];
        for (unsigned i = 0; i < s->n; i++)
            seqs[i] = s->v[i].seq;
        bool added = false;
        int rc = c2d_release(registry_of(c), seqs, s->n, time_now_ms(), &added);
        wake_feedback(added);
        if (rc != REG_OK)
            log_error("cannot give c2d messages back to the queue; they are delivered again "
                      "after a restart",
                      "device=%s count=%u", c->id.device_id, s->n);
        /* A newer connection of the device may be waiting for them. */
        mqtt_c2d_notify(c->mt->ep->hub, c->id.device_id);
    }
    free(s);
}

static void notify_mail(void *obj, uint64_t arg1, int64_t arg2)
{
    (void)arg1;
    (void)arg2;
    struct mqtt_conn *c = obj;
    if (c->state == CONN_ACTIVE)
        mqtt_c2d_resume(c);
    mqtt_conn_unref(c);
}

void mqtt_c2d_notify(struct hub *hub, const char *device_id)
{
    if (!hub->mqtt)
        return;
    struct mqtt_conn *c = device_map_get(&hub->mqtt->devices, device_id);
    if (!c)
        return;
    struct mail m = {notify_mail, c, 0, 0};
    if (mailbox_post(&c->mt->thread->mailbox, &m) != 0) {
        log_error("cannot wake a device for c2d delivery: out of memory", "device=%s", device_id);
        mqtt_conn_unref(c);
    }
}
