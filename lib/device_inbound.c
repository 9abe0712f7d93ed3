/* What the hub sends a device (spec 2.8-2.10) and the twin requests the device makes, for
 * the do-work engine (device_ll.c calls the iotlib_inbound_* hooks):
 *
 *   C2D       SUBSCRIBE devices/{id}/messages/devicebound/# (QoS 1) while a message
 *             callback is set; each PUBLISH becomes an iothub_message_t lent to the
 *             callback; ACCEPTED and REJECTED are answered with PUBACK (MQTT has no
 *             reject), ABANDONED with nothing, so the hub delivers the message again on the
 *             next connection (the C SDK does the same).
 *   methods   SUBSCRIBE $iothub/methods/POST/# (QoS 0); the callback's status and response
 *             go back on $iothub/methods/res/{status}/?$rid={rid} (QoS 0).
 *   twin      SUBSCRIBE $iothub/twin/res/# and .../PATCH/properties/desired/# (QoS 0);
 *             after every CONNACK (and once the subscription is granted) GET the twin for
 *             the COMPLETE callback; desired notifications become PARTIAL callbacks.
 *             Reported patches go out on $iothub/twin/PATCH/properties/reported/?$rid={n}
 *             and end with the status of $iothub/twin/res/{status}/?$rid={n}.
 *
 * Subscriptions are sent again after every reconnect (harmless with the hub's persistent
 * session). Reported patches not answered when a connection ends are published again on
 * the next one (a JSON merge patch applied twice gives the same document). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "device_ll.h"
#include "device_topics.h"

#define FILTER_MAX     640
#define TOPIC_MAX      (64 + IOTLIB_RID_MAX)
#define OUT_HIGH_WATER (256 * 1024)
#define SUBACK_FAILURE 0x80
#define REPORTED_MAX   IOTHUB_MESSAGE_MAX_SIZE

static const char *const filter_names[4] = {
    "devices/%s/messages/devicebound/#",
    "$iothub/methods/POST/#",
    "$iothub/twin/res/#",
    "$iothub/twin/PATCH/properties/desired/#",
};
static const uint8_t filter_qos[4] = {1, 0, 0, 0};

static uint32_t next_rid(iothub_device_client_ll_t *c)
{
    uint32_t rid = c->next_rid;
    c->next_rid = rid == UINT32_MAX ? 1 : rid + 1;
    return rid;
}

static void queue_puback(iothub_device_client_ll_t *c, uint16_t packet_id)
{
    if (iotlib_ll_out_reserve(c, 4) != 0)
        return; /* no PUBACK: the hub delivers the message again on the next connection */
    c->out_len +=
        mqtt_encode_ack(c->out + c->out_len, c->out_cap - c->out_len, MQTT_PUBACK, packet_id);
    if (c->opts.logtrace)
        iotlib_trace("-> PUBACK id=%u", packet_id);
}

/* ---- subscriptions ---------------------------------------------------------------------- */

static unsigned wanted_filters(const iothub_device_client_ll_t *c)
{
    unsigned w = 0;
    if (c->c2d_cb)
        w |= SUB_C2D;
    if (c->method_cb)
        w |= SUB_METHODS;
    if (c->twin_cb)
        w |= SUB_TWIN_RES | SUB_TWIN_DESIRED;
    if (c->twin_res_wanted)
        w |= SUB_TWIN_RES;
    return w;
}

/* Writes the filters of bits into names (storage in bufs) and their QoS; returns the count
 * and, in *made, the bits whose filter could be written. */
static size_t make_filters(const iothub_device_client_ll_t *c, unsigned bits,
                           char bufs[4][FILTER_MAX], struct mqtt_str *names, uint8_t *qos,
                           unsigned *made)
{
    size_t n = 0;
    *made = 0;
    for (unsigned i = 0; i < 4; i++) {
        if (!(bits & (1u << i)))
            continue;
        int len = snprintf(bufs[n], FILTER_MAX, filter_names[i], c->auth.device_id);
        if (len < 0 || len >= FILTER_MAX)
            continue; /* a device id too long for any hub */
        names[n].ptr = bufs[n];
        names[n].len = (size_t)len;
        qos[n] = filter_qos[i];
        n++;
        *made |= 1u << i;
    }
    return n;
}

/* One SUBSCRIBE (all new filters) or UNSUBSCRIBE at a time, as the callbacks change. */
static void queue_subscriptions(iothub_device_client_ll_t *c)
{
    if (c->sub_packet_id)
        return; /* wait for the SUBACK */
    unsigned want = wanted_filters(c);
    unsigned drop = c->sub_sent & ~want, add = want & ~c->sub_sent;
    char bufs[4][FILTER_MAX];
    struct mqtt_str names[4];
    uint8_t qos[4];
    unsigned made;
    if (drop) {
        size_t n = make_filters(c, drop, bufs, names, qos, &made);
        if (n > 0) {
            if (iotlib_ll_out_reserve(c, 16 + 4 * FILTER_MAX) != 0)
                return;
            size_t w = mqtt_encode_unsubscribe(c->out + c->out_len, c->out_cap - c->out_len,
                                               iotlib_ll_packet_id(c), names, n);
            if (w == 0)
                return;
            c->out_len += w;
            if (c->opts.logtrace)
                iotlib_trace("-> UNSUBSCRIBE %zu filter(s), first %.*s", n, (int)names[0].len,
                             names[0].ptr);
        }
        c->sub_sent &= ~drop;
        c->sub_granted &= ~drop;
    }
    if (add) {
        size_t n = make_filters(c, add, bufs, names, qos, &made);
        if (n == 0) {
            c->sub_sent |= add; /* a device id no topic can hold: never granted */
            return;
        }
        if (iotlib_ll_out_reserve(c, 16 + 4 * (FILTER_MAX + 3)) != 0)
            return;
        uint16_t id = iotlib_ll_packet_id(c);
        size_t w =
            mqtt_encode_subscribe(c->out + c->out_len, c->out_cap - c->out_len, id, names, qos, n);
        if (w == 0)
            return;
        c->out_len += w;
        c->sub_sent |= add;
        c->sub_waiting = made; /* the SUBACK has one code per filter sent */
        c->sub_packet_id = id;
        if (c->opts.logtrace)
            for (size_t i = 0; i < n; i++)
                iotlib_trace("-> SUBSCRIBE id=%u %.*s qos=%u", id, (int)names[i].len, names[i].ptr,
                             qos[i]);
    }
}

void iotlib_inbound_on_suback(iothub_device_client_ll_t *c, const struct mqtt_list *codes)
{
    if (codes->packet_id != c->sub_packet_id || c->sub_packet_id == 0)
        return; /* an old connection's, or not ours */
    size_t pos = 0;
    for (unsigned i = 0; i < 4; i++) {
        unsigned bit = 1u << i;
        if (!(c->sub_waiting & bit))
            continue;
        uint8_t code = SUBACK_FAILURE;
        (void)mqtt_suback_next(codes, &pos, &code); /* a missing code counts as refused */
        if (code != SUBACK_FAILURE)
            c->sub_granted |= bit;
        else if (c->opts.logtrace)
            iotlib_trace("<- SUBACK: the hub refused %s (not retried on this connection)",
                         filter_names[i]);
    }
    if (c->opts.logtrace)
        iotlib_trace("<- SUBACK id=%u", c->sub_packet_id);
    c->sub_packet_id = 0;
    c->sub_waiting = 0;
}

/* ---- twin requests ---------------------------------------------------------------------- */

static bool twin_ready(const iothub_device_client_ll_t *c)
{
    return (c->sub_granted & SUB_TWIN_RES) != 0;
}

static int publish_qos0(iothub_device_client_ll_t *c, const char *topic, const uint8_t *payload,
                        size_t len)
{
    struct mqtt_publish pub = {
        .qos = 0,
        .topic = {topic, strlen(topic)},
        .payload = payload,
        .payload_len = len,
    };
    int rc = iotlib_ll_queue_publish(c, &pub);
    if (rc == 0 && c->opts.logtrace)
        iotlib_trace("-> PUBLISH qos=0 topic=%s len=%zu", topic, len);
    return rc;
}

void iotlib_inbound_queue_output(iothub_device_client_ll_t *c, int64_t now)
{
    queue_subscriptions(c);
    if (!twin_ready(c))
        return;
    char topic[TOPIC_MAX];
    if (c->twin_cb && c->twin_get_rid == 0 && c->twin_get_due_ms >= 0 &&
        now >= c->twin_get_due_ms) {
        uint32_t rid = next_rid(c);
        snprintf(topic, sizeof(topic), "$iothub/twin/GET/?$rid=%u", rid);
        if (publish_qos0(c, topic, NULL, 0) == 0) {
            c->twin_get_rid = rid;
            c->twin_get_sent_ms = now;
            c->twin_get_due_ms = -1;
        }
    }
    for (struct reported *r = c->rep_head; r && c->out_len < OUT_HIGH_WATER; r = r->next) {
        if (r->sent)
            continue;
        uint32_t rid = next_rid(c);
        snprintf(topic, sizeof(topic), "$iothub/twin/PATCH/properties/reported/?$rid=%u", rid);
        if (publish_qos0(c, topic, r->body, r->len) != 0)
            return;
        r->rid = rid;
        r->sent = true;
    }
}

/* Unlinks r (prev precedes it, or NULL) from the reported list. */
static void reported_unlink(iothub_device_client_ll_t *c, struct reported *prev, struct reported *r)
{
    if (prev)
        prev->next = r->next;
    else
        c->rep_head = r->next;
    if (c->rep_tail == r)
        c->rep_tail = prev;
    c->nreported--;
    r->next = NULL;
}

/* Calls r's callback with status and frees r (already unlinked). */
static void reported_finish(iothub_device_client_ll_t *c, struct reported *r, int status)
{
    if (c->opts.logtrace)
        iotlib_trace("reported state done: status %d", status);
    if (r->cb)
        r->cb(status, r->ctx);
    free(r->body);
    free(r);
}

/* Finishes every request matching (all, or older than cutoff) with status. Unlinks them
 * first: callbacks may send new reported states. */
static void reported_finish_matching(iothub_device_client_ll_t *c, bool all, int64_t cutoff,
                                     int status)
{
    struct reported *done = NULL, **done_tail = &done;
    struct reported *prev = NULL, *r = c->rep_head;
    while (r) {
        struct reported *next = r->next;
        if (all || r->enqueued_ms <= cutoff) {
            reported_unlink(c, prev, r);
            *done_tail = r;
            done_tail = &r->next;
        } else {
            prev = r;
        }
        r = next;
    }
    while (done) {
        struct reported *d = done;
        done = d->next;
        reported_finish(c, d, status);
    }
}

static void on_twin_response(iothub_device_client_ll_t *c, const struct iotlib_inbound *in,
                             const uint8_t *payload, size_t len)
{
    uint32_t rid;
    if (!iotlib_rid_to_u32(in->rid, &rid) || rid == 0) {
        if (c->opts.logtrace)
            iotlib_trace("<- twin response for a request id this client never sent: ignored");
        return;
    }
    if (rid == c->twin_get_rid) {
        c->twin_get_rid = 0;
        if (in->status != 200) {
            if (c->opts.logtrace)
                iotlib_trace("<- twin GET answered %d; asking again in %d s", in->status,
                             IOTLIB_TWIN_GET_RETRY_MS / 1000);
            c->twin_get_due_ms = iotlib_now_ms() + IOTLIB_TWIN_GET_RETRY_MS;
            return;
        }
        if (c->opts.logtrace)
            iotlib_trace("<- twin (%zu bytes): COMPLETE", len);
        if (c->twin_cb) {
            c->twin_complete_delivered = true;
            c->twin_cb(IOTHUB_TWIN_UPDATE_COMPLETE, payload, len, c->twin_ctx);
        }
        return;
    }
    struct reported *prev = NULL;
    for (struct reported *r = c->rep_head; r; prev = r, r = r->next) {
        if (r->sent && r->rid == rid) {
            reported_unlink(c, prev, r);
            reported_finish(c, r, in->status);
            return;
        }
    }
    if (c->opts.logtrace)
        iotlib_trace("<- twin response $rid=%u: no such request (timed out earlier?)", rid);
}

static void on_desired(iothub_device_client_ll_t *c, const uint8_t *payload, size_t len)
{
    if (!c->twin_cb)
        return;
    if (!c->twin_complete_delivered) {
        /* The answer to the GET already holds this change (the C SDK drops it too). */
        if (c->opts.logtrace)
            iotlib_trace("<- desired properties before the whole twin: dropped");
        return;
    }
    if (c->opts.logtrace)
        iotlib_trace("<- desired properties (%zu bytes): PARTIAL", len);
    c->twin_cb(IOTHUB_TWIN_UPDATE_PARTIAL, payload, len, c->twin_ctx);
}

/* ---- C2D and methods -------------------------------------------------------------------- */

static void on_c2d(iothub_device_client_ll_t *c, const struct mqtt_publish *p,
                   const struct iotlib_inbound *in)
{
    if (!c->c2d_cb) {
        if (c->opts.logtrace)
            iotlib_trace("<- C2D message without a message callback: left unacknowledged");
        return;
    }
    iothub_message_t *msg = NULL;
    int rc = iotlib_c2d_message_decode(in->bag.ptr, in->bag.len, p->payload, p->payload_len, &msg);
    if (rc) {
        /* Not acknowledged: the hub offers it again on the next connection. */
        if (c->opts.logtrace)
            iotlib_trace("<- C2D message the client cannot decode (%s): left unacknowledged",
                         iothub_err_name(rc));
        return;
    }
    if (c->opts.logtrace)
        iotlib_trace("<- C2D message id=%u (%zu bytes)", p->packet_id, p->payload_len);
    iothub_disposition_t d = c->c2d_cb(msg, c->c2d_ctx);
    iothub_message_destroy(msg);
    if (c->opts.logtrace)
        iotlib_trace("C2D message %s", iothub_disposition_name(d));
    if (d != IOTHUB_MESSAGE_ABANDONED && p->qos == 1)
        queue_puback(c, p->packet_id);
}

static void on_method(iothub_device_client_ll_t *c, const struct mqtt_publish *p,
                      const struct iotlib_inbound *in)
{
    if (!c->method_cb) {
        if (c->opts.logtrace)
            iotlib_trace("<- method call without a method callback: not answered");
        return;
    }
    char name[IOTLIB_METHOD_NAME_MAX + 1];
    memcpy(name, in->name.ptr, in->name.len);
    name[in->name.len] = '\0';
    if (c->opts.logtrace)
        iotlib_trace("<- method %s $rid=%.*s (%zu bytes)", name, (int)in->rid.len, in->rid.ptr,
                     p->payload_len);
    /* The rid lives in the input buffer, which the callback cannot change; copy anyway so
     * the topic is built from bytes we own. */
    char rid[IOTLIB_RID_MAX + 1];
    memcpy(rid, in->rid.ptr, in->rid.len);
    rid[in->rid.len] = '\0';
    uint8_t *response = NULL;
    size_t response_len = 0;
    const uint8_t *payload = p->payload_len ? p->payload : (const uint8_t *)"";
    int status =
        c->method_cb(name, payload, p->payload_len, &response, &response_len, c->method_ctx);
    if (!response)
        response_len = 0;
    char topic[TOPIC_MAX];
    snprintf(topic, sizeof(topic), "$iothub/methods/res/%d/?$rid=%s", status, rid);
    if (publish_qos0(c, topic, response, response_len) != 0 && c->opts.logtrace)
        iotlib_trace("method response could not be queued (out of memory)");
    free(response);
}

void iotlib_inbound_on_publish(iothub_device_client_ll_t *c, const struct mqtt_publish *p)
{
    struct iotlib_inbound in;
    int rc = iotlib_inbound_parse(p->topic.ptr, p->topic.len, c->auth.device_id, &in);
    if (rc == 0 && in.kind == IOTLIB_INBOUND_C2D) {
        on_c2d(c, p, &in); /* acknowledges according to the disposition */
        return;
    }
    if (rc) {
        if (c->opts.logtrace)
            iotlib_trace("<- PUBLISH on a malformed topic %.*s: ignored", (int)p->topic.len,
                         p->topic.ptr);
    } else if (in.kind == IOTLIB_INBOUND_METHOD) {
        on_method(c, p, &in);
    } else if (in.kind == IOTLIB_INBOUND_TWIN_RESPONSE) {
        on_twin_response(c, &in, p->payload, p->payload_len);
    } else if (in.kind == IOTLIB_INBOUND_TWIN_DESIRED) {
        on_desired(c, p->payload, p->payload_len);
    } else if (c->opts.logtrace) {
        iotlib_trace("<- PUBLISH on %.*s: not a topic this client handles", (int)p->topic.len,
                     p->topic.ptr);
    }
    /* The hub sends these at QoS 0; a QoS 1 one is acknowledged so that it is not resent. */
    if (p->qos == 1)
        queue_puback(c, p->packet_id);
}

/* ---- engine hooks ----------------------------------------------------------------------- */

void iotlib_inbound_on_connected(iothub_device_client_ll_t *c, int64_t now)
{
    c->gave_up = false;
    if (c->twin_cb)
        c->twin_get_due_ms = now; /* the whole twin after every (re)connection */
}

void iotlib_inbound_on_closed(iothub_device_client_ll_t *c)
{
    c->sub_sent = c->sub_granted = c->sub_waiting = 0;
    c->sub_packet_id = 0;
    c->twin_get_rid = 0;
    for (struct reported *r = c->rep_head; r; r = r->next)
        r->sent = false;
}

void iotlib_inbound_expire(iothub_device_client_ll_t *c, int64_t now)
{
    if (c->rep_head)
        reported_finish_matching(c, false, now - IOTLIB_REPORTED_TIMEOUT_MS, IOTLIB_STATUS_TIMEOUT);
    if (c->twin_get_rid && now - c->twin_get_sent_ms >= IOTLIB_TWIN_GET_TIMEOUT_MS) {
        if (c->opts.logtrace)
            iotlib_trace("twin GET unanswered for %d s: asking again",
                         IOTLIB_TWIN_GET_TIMEOUT_MS / 1000);
        c->twin_get_rid = 0;
        c->twin_get_due_ms = now;
    }
}

void iotlib_inbound_fail_all(iothub_device_client_ll_t *c, int status)
{
    reported_finish_matching(c, true, 0, status);
}

bool iotlib_inbound_wants_connection(const iothub_device_client_ll_t *c)
{
    return c->nreported > 0 || (!c->gave_up && (c->c2d_cb || c->method_cb || c->twin_cb));
}

static int64_t earlier(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

int64_t iotlib_inbound_deadline(const iothub_device_client_ll_t *c)
{
    int64_t d = -1;
    for (struct reported *r = c->rep_head; r; r = r->next)
        d = earlier(d, r->enqueued_ms + IOTLIB_REPORTED_TIMEOUT_MS);
    if (c->twin_get_rid)
        d = earlier(d, c->twin_get_sent_ms + IOTLIB_TWIN_GET_TIMEOUT_MS);
    if (c->st != ST_CONNECTED)
        return d;
    int64_t now = iotlib_now_ms();
    if (c->sub_packet_id == 0 && wanted_filters(c) != c->sub_sent)
        d = earlier(d, now);
    if (twin_ready(c)) {
        if (c->twin_cb && c->twin_get_rid == 0 && c->twin_get_due_ms >= 0)
            d = earlier(d, c->twin_get_due_ms);
        /* Past the high-water mark the socket must drain first (it is polled for that). */
        for (struct reported *r = c->rep_head; r && c->out_len < OUT_HIGH_WATER; r = r->next)
            if (!r->sent)
                d = earlier(d, now);
    }
    return d;
}

void iotlib_inbound_free(iothub_device_client_ll_t *c)
{
    /* Requests a callback queued during the final BECAUSE_DESTROY / 408 round. */
    while (c->rep_head) {
        struct reported *r = c->rep_head;
        c->rep_head = r->next;
        free(r->body);
        free(r);
    }
    c->rep_tail = NULL;
    c->nreported = 0;
}

/* ---- public API ------------------------------------------------------------------------- */

int iothub_device_client_ll_set_message_callback(iothub_device_client_ll_t *c,
                                                 iothub_c2d_message_cb callback, void *ctx)
{
    if (!c)
        return IOTHUB_EINVAL;
    c->c2d_cb = callback;
    c->c2d_ctx = callback ? ctx : NULL;
    if (callback)
        c->gave_up = false;
    return 0;
}

int iothub_device_client_ll_set_device_method_callback(iothub_device_client_ll_t *c,
                                                       iothub_device_method_cb callback, void *ctx)
{
    if (!c)
        return IOTHUB_EINVAL;
    c->method_cb = callback;
    c->method_ctx = callback ? ctx : NULL;
    if (callback)
        c->gave_up = false;
    return 0;
}

int iothub_device_client_ll_set_device_twin_callback(iothub_device_client_ll_t *c,
                                                     iothub_twin_cb callback, void *ctx)
{
    if (!c)
        return IOTHUB_EINVAL;
    c->twin_cb = callback;
    c->twin_ctx = callback ? ctx : NULL;
    if (callback) {
        c->gave_up = false;
        if (c->twin_get_rid == 0)
            c->twin_get_due_ms = iotlib_now_ms(); /* the whole twin first */
    }
    return 0;
}

int iothub_device_client_ll_send_reported_state(iothub_device_client_ll_t *c,
                                                const uint8_t *reported_state, size_t size,
                                                iothub_reported_state_cb callback, void *ctx)
{
    if (!c || !reported_state || size == 0)
        return IOTHUB_EINVAL;
    if (size > REPORTED_MAX)
        return IOTHUB_ETOOBIG;
    json_error_t err;
    json_t *doc = json_loadb((const char *)reported_state, size, 0, &err);
    bool is_object = doc && json_is_object(doc);
    json_decref(doc);
    if (!is_object)
        return IOTHUB_EINVAL;
    struct reported *r = calloc(1, sizeof(*r));
    if (!r)
        return IOTHUB_ENOMEM;
    r->body = malloc(size);
    if (!r->body) {
        free(r);
        return IOTHUB_ENOMEM;
    }
    memcpy(r->body, reported_state, size);
    r->len = size;
    r->cb = callback;
    r->ctx = ctx;
    r->enqueued_ms = iotlib_now_ms();
    if (c->rep_tail)
        c->rep_tail->next = r;
    else
        c->rep_head = r;
    c->rep_tail = r;
    c->nreported++;
    c->twin_res_wanted = true;
    c->gave_up = false;
    return 0;
}
