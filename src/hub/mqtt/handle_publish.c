/* PUBLISH from a device: telemetry into the event log (spec 2.7). A QoS 1 PUBACK is sent
 * only when the log reports the record on disk. */
#include <event2/event.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "hub/hub.h"
#include "hub/mqtt/conn.h"
#include "hub/mqtt/endpoint.h"
#include "hub/mqtt/topics.h"
#include "hub/net/threads.h"
#include "hub/throttle.h"
#include "hub/throttle_memory.h"
#include "mqtt/propbag.h"
#include "store/eventlog.h"

/* System properties of the bag ("$.x" once decoded) and the name each gets in the log, as
 * the Event Hubs-compatible endpoint shows them. Unknown "$." keys are dropped. */
static const struct {
    const char *bag_key;
    const char *name;
    bool application; /* stored as an application property */
} system_keys[] = {
    {"$.mid", "message-id", false},
    {"$.cid", "correlation-id", false},
    {"$.uid", "user-id", false},
    {"$.to", "to", false},
    {"$.ct", "content-type", false},
    {"$.ce", "content-encoding", false},
    {"$.exp", "absolute-expiry-time", false},
    {"$.ifid", "iothub-interface-id", false},
    {"$.sub", "dt-subject", false},
    {"$.ctime", "iothub-creation-time-utc", true},
    {"$.schema", "iothub-message-schema", true},
};

#define SYSTEM_PROPS_MAX (6 + sizeof(system_keys) / sizeof(system_keys[0]))

static struct eventlog_prop prop(const char *key, const char *value)
{
    return (struct eventlog_prop){key, strlen(key), value, strlen(value)};
}

/* The ring of PUBACKs owed, in PUBLISH order; grows by doubling. */
static int ring_push(struct mqtt_conn *c, uint32_t entry)
{
    if (c->ring_count == c->ring_cap) {
        unsigned cap = c->ring_cap ? c->ring_cap * 2 : 16;
        uint32_t *ring = malloc(cap * sizeof(*ring));
        if (!ring)
            return -1;
        for (unsigned i = 0; i < c->ring_count; i++)
            ring[i] = c->pid_ring[(c->ring_head + i) & (c->ring_cap - 1)];
        free(c->pid_ring);
        c->pid_ring = ring;
        c->ring_cap = cap;
        c->ring_head = 0;
    }
    c->pid_ring[(c->ring_head + c->ring_count) & (c->ring_cap - 1)] = entry;
    c->ring_count++;
    return 0;
}

static uint32_t ring_pop(struct mqtt_conn *c)
{
    uint32_t entry = c->pid_ring[c->ring_head];
    c->ring_head = (c->ring_head + 1) & (c->ring_cap - 1);
    c->ring_count--;
    return entry;
}

static void send_puback(struct mqtt_conn *c, uint16_t pid)
{
    uint8_t ack[4];
    mqtt_conn_send(c, ack, mqtt_encode_ack(ack, sizeof(ack), MQTT_PUBACK, pid));
}

/* PUBACKs that waited only for the ones before them. */
static void send_ready(struct mqtt_conn *c)
{
    while (c->ring_count && (c->pid_ring[c->ring_head] & MQTT_RING_READY)) {
        uint16_t pid = (uint16_t)ring_pop(c);
        if (c->state == CONN_ACTIVE)
            send_puback(c, pid);
    }
}

/* On the owning thread: the log's verdict on the oldest in-flight QoS 1 message. */
static void appended_mail(void *obj, uint64_t arg1, int64_t arg2)
{
    (void)arg2;
    struct mqtt_conn *c = obj;
    int status = (int)(int64_t)arg1;
    if (c->inflight) {
        c->inflight--;
        uint16_t pid = (uint16_t)ring_pop(c);
        if (c->state == CONN_ACTIVE) {
            if (status == EVENTLOG_OK) {
                send_puback(c, pid);
                send_ready(c);
                struct busy_poll *bp = &c->mt->thread->busy_poll;
                if (bp->window_ns && !bp->expect_ns && mqtt_conn_alone(c))
                    busy_poll_expect(bp, time_mono_ns());
            } else {
                /* MQTT 3.1.1 has no negative PUBACK: closing makes the device resend. */
                log_warn("telemetry not stored, closing so that the device resends",
                         "device=%s reason=\"%s\"", c->id.device_id, eventlog_strerror(status));
                mqtt_conn_close(c, "the event log could not store a message");
            }
        }
        mqtt_conn_update_flow(c);
    }
    mqtt_conn_unref(c);
}

/* On the thread that committed the batch: the partition's writer, or this connection's own
 * network thread committing inline (flush_log in conn.c). */
static void on_appended(void *ctx, int status, uint64_t seq, uint64_t offset, int64_t enqueued_ms)
{
    (void)seq;
    (void)offset;
    (void)enqueued_ms;
    struct mqtt_conn *c = ctx;
    struct mail m = {appended_mail, c, (uint64_t)(int64_t)status, 0};
    /* Woken by the log's batch_done (mailbox_wake_deferred): once per batch, not per record. */
    if (mailbox_post_deferred(&c->mt->thread->mailbox, &m) != 0) {
        /* The connection cannot learn its verdict; it will never PUBACK this message and the
         * device resends after its timeout. Keep the reference: freeing here would race. */
        log_error("lost an event log completion: out of memory", "device=%s", c->id.device_id);
    }
}

/* QoS 0 messages the log refused (a full append queue under a flood): logged at most once a
 * second over the hub, with the count since the last line, so that a flood of messages does
 * not become a flood of log lines. */
static atomic_llong qos0_dropped;
static atomic_llong qos0_drop_logged_ms;

static void note_qos0_drop(const struct mqtt_conn *c, int status)
{
    atomic_fetch_add(&qos0_dropped, 1);
    long long now = time_now_ms(), last = atomic_load(&qos0_drop_logged_ms);
    if (now - last < 1000 || !atomic_compare_exchange_strong(&qos0_drop_logged_ms, &last, now))
        return;
    log_warn("QoS 0 telemetry dropped", "device=%s reason=\"%s\" dropped_since_last_line=%lld",
             c->id.device_id, eventlog_strerror(status), atomic_exchange(&qos0_dropped, 0));
}

/* The longest the D2C throttle holds a device back; a longer backlog closes the connection
 * (the device resends), as the hosted service does when traffic shaping cannot absorb it. */
#define THROTTLE_WAIT_MAX_MS 10000

/* The throttle's pause is over: read the device again (unless the in-flight bound still
 * holds reading back: then the log's completions resume it). */
static void throttle_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mqtt_conn *c = arg;
    c->throttle_paused = false;
    c->last_inbound_ms = time_now_ms(); /* PINGREQs may have waited unread */
    mqtt_conn_update_flow(c);
}

/* Stops reading the device for wait_ns: its next PUBLISHes (and so their PUBACKs) wait in
 * the socket, nothing is dropped. */
static void throttle_pause(struct mqtt_conn *c, int64_t wait_ns)
{
    if (c->state != CONN_ACTIVE || c->finalized)
        return;
    if (!c->throttle_timer)
        c->throttle_timer = evtimer_new(c->mt->thread->base, throttle_resume, c);
    if (!c->throttle_timer)
        return; /* out of memory: this message goes unthrottled */
    struct timeval tv = {(time_t)(wait_ns / 1000000000),
                         (suseconds_t)(wait_ns % 1000000000 / 1000)};
    c->throttle_paused = true;
    /* The keep-alive clock restarts: the device cannot be heard while we do not read. */
    c->last_inbound_ms = time_now_ms();
    mqtt_conn_pause_reading(c);
    evtimer_add(c->throttle_timer, &tv);
}

/* Charges one message to the device's and the hub's D2C buckets. Returns how long to hold
 * the device back before its next message (ns; 0 = under the rates), or -1 after closing
 * the connection when the hub's backlog is longer than a pause may be. */
static int64_t throttle_d2c(struct mqtt_conn *c)
{
    struct hub_throttle *t = c->mt->ep->hub->throttle;
    if (!t || (!throttle_rate_on(&t->d2c_device) && !throttle_rate_on(&t->d2c_hub)))
        return 0;
    /* A pause may last half the keep-alive at most: PINGREQs wait unread meanwhile. */
    int64_t cap_ms =
        c->keepalive_ms / 2 < THROTTLE_WAIT_MAX_MS ? c->keepalive_ms / 2 : THROTTLE_WAIT_MAX_MS;
    int64_t cap = cap_ms * 1000000, now = time_mono_ns();
    /* A device that left while over its rate comes back to the bucket it left. Looked up at
     * the first message rather than at CONNECT: a connection that replaced a live one
     * finds the bucket the old one saved when it closed, a moment after the CONNACK. */
    if (!c->throttle_resumed) {
        c->throttle_resumed = true;
        if (t->d2c_device_memory) {
            int64_t was = throttle_memory_take(t->d2c_device_memory, c->id.device_id, now);
            if (was > c->throttle_tat_ns)
                c->throttle_tat_ns = was;
        }
    }
    int64_t dev = throttle_take(&t->d2c_device, &c->throttle_tat_ns, now, cap);
    int64_t hub = dev < 0 ? -1 : throttle_take_shared(&t->d2c_hub, &t->d2c_hub_tat, now, cap);
    if (dev < 0 || hub < 0) {
        log_warn("telemetry throttled: closing so that the device resends later",
                 "device=%s max_wait_ms=%lld", c->id.device_id, (long long)cap_ms);
        mqtt_conn_close(c, "throttled: the device-to-cloud rate is exceeded by more than a "
                           "pause may absorb");
        return -1;
    }
    return dev > hub ? dev : hub;
}

static int store_telemetry(struct mqtt_conn *c, const struct mqtt_publish *p, const char *bag,
                           size_t bag_len)
{
    struct mqtt_thread *mt = c->mt;
    struct hub *hub = mt->ep->hub;
    struct propbag_entry entries[MQTT_APP_PROPERTIES_MAX + SYSTEM_PROPS_MAX];
    int n = propbag_parse(bag, bag_len, entries, sizeof(entries) / sizeof(entries[0]), mt->scratch,
                          mt->scratch_cap);
    if (n < 0) {
        mqtt_conn_close(c, "malformed or oversized property bag");
        return -1;
    }
    /* app: the device's own properties, then at most $.ctime, $.schema and mqtt-retain. */
    struct eventlog_prop sys[SYSTEM_PROPS_MAX], app[MQTT_APP_PROPERTIES_MAX + 3];
    size_t nsys = 0, napp = 0, nown = 0, size = p->payload_len;
    /* Where each system key went (sys or app index), so that one sent again replaces the
     * earlier value (the last one counts) instead of taking another slot. */
    size_t system_at[sizeof(system_keys) / sizeof(system_keys[0])];
    bool system_seen[sizeof(system_keys) / sizeof(system_keys[0])] = {false};
    sys[nsys++] = prop("iothub-connection-device-id", c->id.device_id);
    sys[nsys++] = prop("iothub-connection-auth-method", c->id.auth_method);
    sys[nsys++] = prop("iothub-connection-auth-generation-id", c->id.generation_id);
    sys[nsys++] = prop("iothub-message-source", "Telemetry");
    if (c->model_id)
        sys[nsys++] = prop("dt-dataschema", c->model_id);
    for (int i = 0; i < n; i++) {
        const char *k = entries[i].key, *v = entries[i].value;
        if (k[0] == '$' && k[1] == '.') {
            for (size_t s = 0; s < sizeof(system_keys) / sizeof(system_keys[0]); s++) {
                if (strcmp(k, system_keys[s].bag_key) != 0)
                    continue;
                struct eventlog_prop *to = system_keys[s].application ? app : sys;
                size_t *count = system_keys[s].application ? &napp : &nsys;
                if (!system_seen[s]) {
                    system_seen[s] = true;
                    system_at[s] = (*count)++;
                }
                to[system_at[s]] = prop(system_keys[s].name, v);
                size += strlen(v);
                break;
            }
            continue;
        }
        if (++nown > MQTT_APP_PROPERTIES_MAX) {
            mqtt_conn_close(c, "more than 128 application properties");
            return -1;
        }
        app[napp++] = prop(k, v);
        size += strlen(k) + strlen(v);
    }
    if (p->retain)
        app[napp++] = prop("mqtt-retain", "true");
    if (size > MQTT_MESSAGE_MAX) {
        mqtt_conn_close(c, "message larger than 256 KiB (body and properties)");
        return -1;
    }
    /* Over a throttle's rate the message is still stored; the device's next ones wait. */
    int64_t throttle_wait_ns = throttle_d2c(c);
    if (throttle_wait_ns < 0)
        return -1;
    struct eventlog_message msg = {sys, nsys, app, napp, p->payload, p->payload_len};
    if (p->qos == 0) {
        int rc = eventlog_append_held(hub->eventlog, c->partition, &msg, NULL, NULL);
        if (rc != EVENTLOG_OK)
            note_qos0_drop(c, rc);
        else
            c->log_held = true;
        if (throttle_wait_ns > 0)
            throttle_pause(c, throttle_wait_ns);
        return 0;
    }
    if (ring_push(c, p->packet_id) != 0) {
        mqtt_conn_close(c, "out of memory");
        return -1;
    }
    c->inflight++;
    mqtt_conn_ref(c); /* dropped by appended_mail */
    int rc = eventlog_append_held(hub->eventlog, c->partition, &msg, on_appended, c);
    if (rc != EVENTLOG_OK) {
        /* Undo the push: it is the newest entry. */
        c->inflight--;
        c->ring_count--;
        mqtt_conn_unref(c);
        char why[160];
        snprintf(why, sizeof(why), "the event log refused a message: %s", eventlog_strerror(rc));
        mqtt_conn_close(c, why);
        return -1;
    }
    c->log_held = true;
    mqtt_conn_update_flow(c);
    if (throttle_wait_ns > 0)
        throttle_pause(c, throttle_wait_ns);
    return 0;
}

int mqtt_conn_ack_in_order(struct mqtt_conn *c, uint16_t packet_id)
{
    if (c->ring_count == 0) {
        send_puback(c, packet_id);
    } else if (ring_push(c, MQTT_RING_READY | packet_id) != 0) {
        mqtt_conn_close(c, "out of memory");
        return -1;
    }
    return 0;
}

int mqtt_handle_publish(struct mqtt_conn *c, const struct mqtt_publish *p)
{
    if (p->qos > 1) {
        mqtt_conn_close(c, "QoS 2 PUBLISH is not supported");
        return -1;
    }
    const char *bag = NULL;
    size_t bag_len = 0;
    switch (topic_classify_publish(p->topic.ptr, p->topic.len, c->id.device_id, &bag, &bag_len)) {
    case PUBLISH_TELEMETRY:
        return store_telemetry(c, p, bag, bag_len);
    case PUBLISH_TWIN:
        return mqtt_handle_twin(c, p);
    case PUBLISH_METHOD_RESPONSE:
        return mqtt_handle_method_response(c, p);
    default:
        log_warn("mqtt publish to a forbidden topic", "device=%s topic=\"%.*s\"", c->id.device_id,
                 (int)(p->topic.len > 200 ? 200 : p->topic.len), p->topic.ptr);
        mqtt_conn_close(c, "PUBLISH to a topic this device may not use");
        return -1;
    }
}
