/* Direct methods over MQTT (spec 2.9): the hub publishes
 * $iothub/methods/POST/{name}/?$rid={rid} (QoS 0) to a device subscribed to
 * $iothub/methods/POST/#, and the device answers on $iothub/methods/res/{status}/?$rid=.
 *
 * Each connection keeps its own table rid -> call (c->methods), touched only on the
 * connection's thread: entries leave when the device answers, when their response timeout
 * has passed (pruned as new calls arrive; a late answer is dropped), or when the connection
 * closes (each pending call is then answered DeviceNotOnline at once). rids come from one
 * process-wide counter, so an answer meant for an earlier connection never matches a call
 * sent on this one. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/isotime.h"
#include "common/log.h"
#include "hub/hub.h"
#include "hub/methods/broker.h"
#include "hub/mqtt/conn.h"
#include "hub/mqtt/endpoint.h"
#include "hub/mqtt/method_topic.h"
#include "hub/mqtt/topics.h"
#include "hub/net/threads.h"

struct method_entry {
    uint64_t rid;
    int64_t deadline_ms;      /* an answer after this is dropped */
    struct method_call *call; /* one reference */
};

struct mqtt_methods {
    struct method_entry *entries;
    size_t count, cap;
};

static atomic_uint_fast64_t next_rid = 1;

static void post_outcome(struct method_call *call, enum method_outcome_kind kind, int status,
                         const void *payload, size_t len)
{
    struct method_outcome *out = method_outcome_new(kind, status, payload, len);
    if (!out) {
        log_error("cannot report a direct method outcome: out of memory; the call ends by its "
                  "timeout",
                  "device=%s method=%s", call->device_id, call->method_name);
        return;
    }
    method_call_post(call, out);
}

static void remove_entry(struct mqtt_methods *m, size_t i)
{
    method_call_unref(m->entries[i].call);
    m->entries[i] = m->entries[--m->count];
}

/* Drops the entries whose response timeout has passed: their callers already got 504. */
static void prune(struct mqtt_methods *m, int64_t now)
{
    for (size_t i = 0; i < m->count;)
        if (m->entries[i].deadline_ms <= now)
            remove_entry(m, i);
        else
            i++;
}

static int add_entry(struct mqtt_conn *c, uint64_t rid, struct method_call *call, int64_t now)
{
    if (!c->methods && !(c->methods = calloc(1, sizeof(*c->methods))))
        return -1;
    struct mqtt_methods *m = c->methods;
    prune(m, now);
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4;
        struct method_entry *grown = realloc(m->entries, cap * sizeof(*grown));
        if (!grown)
            return -1;
        m->entries = grown;
        m->cap = cap;
    }
    method_call_ref(call);
    m->entries[m->count++] = (struct method_entry){rid, now + call->response_timeout_ms, call};
    return 0;
}

/* Sends call to the device when nobody else has claimed it. On c's thread; c is ACTIVE and
 * subscribed to methods. */
static void deliver(struct mqtt_conn *c, struct method_call *call)
{
    int64_t now = time_now_ms();
    if (!method_call_claim_delivery(call, now))
        return; /* answered already (timeout, client gone) or delivered elsewhere */
    uint64_t rid = atomic_fetch_add(&next_rid, 1);
    char rid_text[24], topic[128 + METHOD_NAME_MAX];
    int rid_len = snprintf(rid_text, sizeof(rid_text), "%" PRIu64, rid);
    size_t topic_len = method_topic_request(topic, sizeof(topic), call->method_name,
                                            strlen(call->method_name), rid_text, (size_t)rid_len);
    uint8_t header[8 + sizeof(topic)];
    struct mqtt_publish pub = {.qos = 0,
                               .topic = {topic, topic_len},
                               .payload = (const uint8_t *)call->payload,
                               .payload_len = call->payload_len};
    size_t header_len = topic_len ? mqtt_encode_publish_header(header, sizeof(header), &pub) : 0;
    if (header_len == 0 || add_entry(c, rid, call, now) != 0) {
        log_error("cannot send a direct method request", "device=%s method=%s reason=%s",
                  c->id.device_id, call->method_name,
                  header_len ? "out of memory" : "the request does not encode");
        post_outcome(call, METHOD_SEND_FAILED, 0, NULL, 0);
        return;
    }
    mqtt_conn_send(c, header, header_len);
    mqtt_conn_send(c, (const uint8_t *)call->payload, call->payload_len);
    log_debug("direct method request sent", "device=%s method=%s rid=%s bytes=%zu", c->id.device_id,
              call->method_name, rid_text, call->payload_len);
}

static bool reachable(const struct mqtt_conn *c)
{
    return c->state == CONN_ACTIVE && (c->subscriptions & SUB_METHODS);
}

/* On the device's thread. */
static void offer_mail(void *obj, uint64_t arg1, int64_t arg2)
{
    (void)arg2;
    struct mqtt_conn *c = obj;
    struct method_call *call = (struct method_call *)(uintptr_t)arg1;
    if (reachable(c))
        deliver(c, call);
    else if (call->connect_timeout_ms == 0 && method_call_close(call) == METHOD_CALL_OPEN)
        post_outcome(call, METHOD_NOT_ONLINE, 0, NULL, 0);
    /* else: it waits on the list for the device to subscribe (mqtt_methods_device_ready). */
    method_call_unref(call);
    mqtt_conn_unref(c);
}

bool mqtt_methods_offer(struct hub *hub, struct method_call *call)
{
    if (!hub->mqtt)
        return false;
    struct mqtt_conn *c = device_map_get(&hub->mqtt->devices, call->device_id);
    if (!c)
        return false;
    method_call_ref(call);
    struct mail m = {offer_mail, c, (uint64_t)(uintptr_t)call, 0};
    if (mailbox_post(&c->mt->thread->mailbox, &m) != 0) {
        method_call_unref(call);
        mqtt_conn_unref(c);
        log_error("cannot pass a direct method call to the device's thread: out of memory",
                  "device=%s", call->device_id);
        return false;
    }
    return true; /* the mail owns both references */
}

void mqtt_methods_device_ready(struct mqtt_conn *c)
{
    if (!reachable(c))
        return;
    struct method_call **calls;
    size_t n = method_waiters_take(c->id.device_id, &calls);
    for (size_t i = 0; i < n; i++) {
        deliver(c, calls[i]);
        method_call_unref(calls[i]);
    }
    free(calls);
}

/* The hub's rids are decimal counters; anything else cannot be one of ours. */
static bool rid_number(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

int mqtt_handle_method_response(struct mqtt_conn *c, const struct mqtt_publish *p)
{
    /* Acknowledged whatever becomes of it: the PUBLISH itself was fine. */
    if (p->qos == 1 && mqtt_conn_ack_in_order(c, p->packet_id) != 0)
        return -1;
    int show = (int)(p->topic.len > 200 ? 200 : p->topic.len);
    struct method_response_topic t;
    uint64_t rid;
    if (!method_topic_parse_response(p->topic.ptr, p->topic.len, &t) ||
        !rid_number(t.rid, t.rid_len, &rid)) {
        log_warn("direct method response dropped: the topic is not "
                 "$iothub/methods/res/{decimal status}/?$rid={rid of a request}",
                 "device=%s topic=\"%.*s\"", c->id.device_id, show, p->topic.ptr);
        return 0;
    }
    struct mqtt_methods *m = c->methods;
    int64_t now = time_now_ms();
    size_t i = 0;
    while (m && i < m->count && m->entries[i].rid != rid)
        i++;
    if (!m || i == m->count || m->entries[i].deadline_ms <= now) {
        log_info("direct method response dropped: no pending request with this rid (unknown "
                 "or timed out)",
                 "device=%s topic=\"%.*s\"", c->id.device_id, show, p->topic.ptr);
        if (m && i < m->count)
            remove_entry(m, i);
        return 0;
    }
    struct method_call *call = m->entries[i].call;
    method_call_ref(call);
    remove_entry(m, i);
    if (p->payload_len > METHOD_PAYLOAD_MAX)
        post_outcome(call, METHOD_ANSWER_TOO_BIG, t.status, NULL, 0);
    else
        post_outcome(call, METHOD_ANSWERED, t.status, p->payload, p->payload_len);
    log_debug("direct method response received", "device=%s method=%s status=%d bytes=%zu",
              c->id.device_id, call->method_name, t.status, p->payload_len);
    method_call_unref(call);
    return 0;
}

void mqtt_methods_release(struct mqtt_conn *c)
{
    struct mqtt_methods *m = c->methods;
    if (!m)
        return;
    int64_t now = time_now_ms();
    for (size_t i = 0; i < m->count; i++) {
        if (m->entries[i].deadline_ms > now)
            post_outcome(m->entries[i].call, METHOD_DISCONNECTED, 0, NULL, 0);
        method_call_unref(m->entries[i].call);
    }
    free(m->entries);
    free(m);
    c->methods = NULL;
}
