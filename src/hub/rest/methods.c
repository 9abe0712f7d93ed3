/* Direct method invocation over the service REST API (spec 3.6): POST /twins/{id}/methods.
 *
 * The handler validates the request and hands a struct method_call to the broker
 * (hub/methods/broker.h); the HTTP request then waits, with reading disabled by evhttp,
 * until one of these happens on this (its home) thread:
 *   - the device's thread posts an outcome: the answer (200 {"status","payload"}), not
 *     online (404103), gone while the call waited (404103), answer too large (413);
 *   - the call's timer fires: not online within connectTimeoutInSeconds (404103), no
 *     answer within responseTimeoutInSeconds of delivery (504101);
 *   - evhttp frees the connection (client gone while the hub writes, or shutdown): the call
 *     is dropped without a reply.
 * Whichever comes first ends the call (detach, reply, release); the others then find it
 * sealed. */
#include <event2/event.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "hub/hub.h"
#include "hub/methods/broker.h"
#include "hub/mqtt/method_topic.h"
#include "hub/net/threads.h"
#include "hub/rest/handlers.h"

/* Bodies above this cannot hold a payload within METHOD_PAYLOAD_MAX plus the other
 * members; refused before parsing. */
#define METHOD_BODY_MAX (METHOD_PAYLOAD_MAX + 64 * 1024)

/* The home thread's state of one call, created with the call and freed by release() when
 * the call ends. */
struct invocation {
    struct method_call *call;
    struct rest_request *rest;       /* kept request; NULL once evhttp freed it */
    struct evhttp_connection *evcon; /* whose close callback points at us, or NULL */
    struct event *timer;
    int64_t started_ms;
};

/* Everything but the reply: no more outcomes, off the waiting list, timer and close
 * callback gone. Returns the kept request to answer (NULL when the client is gone); the
 * caller replies, then calls release(). */
static struct rest_request *detach(struct invocation *inv)
{
    method_call_seal(inv->call);
    method_waiters_remove(inv->call);
    inv->call->home_ctx = NULL;
    if (inv->timer) {
        event_free(inv->timer);
        inv->timer = NULL;
    }
    if (inv->evcon) {
        evhttp_connection_set_closecb(inv->evcon, NULL, NULL);
        inv->evcon = NULL;
    }
    return inv->rest;
}

static void release(struct invocation *inv)
{
    free(inv->rest);
    method_call_unref(inv->call); /* the home reference */
    free(inv);
}

static void finish_error(struct invocation *inv, enum hub_error code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish_error(struct invocation *inv, enum hub_error code, const char *fmt, ...)
{
    struct rest_request *r = detach(inv);
    if (r) {
        char text[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        rest_reply_error(r, code, "%s", text);
    }
    release(inv);
}

/* The device's answer: {"status": s, "payload": <its JSON, or null when it sent nothing>}
 * with HTTP 200 whatever s is; 502 when the payload is not JSON. */
static void finish_answered(struct invocation *inv, const struct method_outcome *out)
{
    const struct method_call *call = inv->call;
    size_t skip = strspn(out->payload, " \t\r\n");
    json_t *payload = NULL;
    if (skip == out->payload_len) {
        payload = json_null();
    } else {
        json_error_t err;
        payload = json_loadb(out->payload, out->payload_len, JSON_DECODE_ANY, &err);
        if (!payload) {
            finish_error(inv, ERR_BAD_DEVICE_RESPONSE,
                         "The response of device %s to method %s is not valid JSON (%s at "
                         "position %d)",
                         call->device_id, call->method_name, err.text, err.position);
            return;
        }
    }
    json_t *body = json_pack("{s:i, s:o}", "status", out->status, "payload", payload);
    if (!body) {
        finish_error(inv, ERR_SERVER, "out of memory formatting the response of device %s",
                     call->device_id);
        return;
    }
    log_info("direct method answered", "device=%s method=%s status=%d ms=%lld", call->device_id,
             call->method_name, out->status, (long long)(time_now_ms() - inv->started_ms));
    struct rest_request *r = detach(inv);
    if (r)
        rest_reply_json(r, 200, body, NULL);
    else
        json_decref(body);
    release(inv);
}

static void not_online(struct invocation *inv, const char *why)
{
    finish_error(inv, ERR_DEVICE_NOT_ONLINE,
                 "Device %s %s. Connect it over MQTT and subscribe to $iothub/methods/POST/# "
                 "(or give connectTimeoutInSeconds)",
                 inv->call->device_id, why);
}

static void on_outcome(struct method_call *call, struct method_outcome *out)
{
    struct invocation *inv = call->home_ctx; /* NULL once sealed */
    if (inv) {
        switch (out->kind) {
        case METHOD_ANSWERED:
            finish_answered(inv, out);
            break;
        case METHOD_NOT_ONLINE:
            not_online(inv, "is not online for direct methods");
            break;
        case METHOD_DISCONNECTED:
            not_online(inv, "disconnected before answering the method call");
            break;
        case METHOD_ANSWER_TOO_BIG:
            finish_error(inv, ERR_MESSAGE_TOO_LARGE,
                         "The response of device %s to method %s exceeds %d bytes", call->device_id,
                         call->method_name, METHOD_PAYLOAD_MAX);
            break;
        case METHOD_SEND_FAILED:
            finish_error(inv, ERR_SERVER, "The hub could not send method %s to device %s",
                         call->method_name, call->device_id);
            break;
        }
    }
    free(out);
}

static void arm(struct invocation *inv, int64_t wait_ms)
{
    if (wait_ms < 0)
        wait_ms = 0;
    struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000};
    evtimer_add(inv->timer, &tv);
}

/* While the call waits for its device, fires at least once a second until the connect
 * deadline: the delivery time, known only to the device's thread, sets the response
 * deadline. Once delivered, fires at delivery + responseTimeoutInSeconds. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct invocation *inv = arg;
    struct method_call *call = inv->call;
    int64_t now = time_now_ms();
    if (atomic_load(&call->claim) == METHOD_CALL_OPEN) {
        int64_t connect_deadline = inv->started_ms + call->connect_timeout_ms;
        if (now < connect_deadline) {
            arm(inv, connect_deadline - now < 1000 ? connect_deadline - now : 1000);
            return;
        }
        if (method_call_close(call) == METHOD_CALL_OPEN) {
            if (call->connect_timeout_ms > 0)
                not_online(inv, "did not connect and subscribe within connectTimeoutInSeconds");
            else
                not_online(inv, "is not online for direct methods");
            return;
        }
    }
    /* Delivered; or closed by the device's thread, whose outcome is on its way. */
    int64_t sent = atomic_load(&call->delivered_ms);
    int64_t deadline = (sent ? sent : now) + call->response_timeout_ms;
    if (now < deadline) {
        arm(inv, deadline - now);
        return;
    }
    finish_error(inv, ERR_GATEWAY_TIMEOUT,
                 "Timed out waiting for the response from device %s to method %s (%lld s)",
                 call->device_id, call->method_name, (long long)(call->response_timeout_ms / 1000));
}

/* evhttp is freeing the connection (the client went away while the hub wrote to it, or the
 * hub is shutting down). A request still queued on it is freed by evhttp right after this;
 * one evhttp already detached (its user has not replied) is ours to free. */
static void on_http_close(struct evhttp_connection *evcon, void *arg)
{
    struct invocation *inv = arg;
    struct evhttp_request *req = inv->rest->req;
    if (evhttp_request_get_connection(req) != evcon)
        evhttp_request_free(req);
    free(inv->rest);
    inv->rest = NULL;
    inv->evcon = NULL; /* going away; do not touch its callbacks */
    log_info("direct method call dropped: the HTTP connection closed", "device=%s method=%s",
             inv->call->device_id, inv->call->method_name);
    detach(inv);
    release(inv);
}

/* An optional whole number of seconds in [min, max]; dflt when absent or null. */
static bool seconds_member(const json_t *body, const char *name, long dflt, long min, long max,
                           long *out)
{
    const json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return true;
    }
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        *out = (long)n;
        return n >= min && n <= max;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= (double)min && d <= (double)max))
            return false; /* also NaN */
        *out = (long)d;
        return (double)*out == d;
    }
    return false;
}

/* The request as the hosted service validates it. On success *name and *payload (malloc'ed
 * JSON text, caller frees) are set; otherwise the reply is sent and false returned. */
static bool parse_request(struct rest_request *r, const char *id, const char **name,
                          long *response_s, long *connect_s, char **payload, json_t **body_out)
{
    if (r->body_len > METHOD_BODY_MAX) {
        rest_reply_error(r, ERR_MESSAGE_TOO_LARGE,
                         "The method request for device %s exceeds %d bytes of payload", id,
                         METHOD_PAYLOAD_MAX);
        return false;
    }
    json_error_t err;
    json_t *body = json_loadb(r->body, r->body_len, 0, &err);
    if (!body) {
        rest_reply_error(r, ERR_FORMAT, "The method request body is not valid JSON: %s", err.text);
        return false;
    }
    *body_out = body;
    const json_t *n = json_object_get(body, "methodName");
    if (!n || json_is_null(n)) {
        rest_reply_error(r, ERR_ARGUMENT_NULL, "methodName is required");
        return false;
    }
    if (!json_is_string(n) || !method_name_valid(json_string_value(n), json_string_length(n))) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID,
                         "methodName must be 1 to %d printable ASCII characters without "
                         "spaces or any of / ? # + \" \\",
                         METHOD_NAME_MAX);
        return false;
    }
    *name = json_string_value(n);
    if (!seconds_member(body, "responseTimeoutInSeconds", METHOD_RESPONSE_TIMEOUT_DEF,
                        METHOD_RESPONSE_TIMEOUT_MIN, METHOD_RESPONSE_TIMEOUT_MAX, response_s)) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID,
                         "responseTimeoutInSeconds must be a whole number from %d to %d",
                         METHOD_RESPONSE_TIMEOUT_MIN, METHOD_RESPONSE_TIMEOUT_MAX);
        return false;
    }
    if (!seconds_member(body, "connectTimeoutInSeconds", 0, 0, METHOD_CONNECT_TIMEOUT_MAX,
                        connect_s)) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID,
                         "connectTimeoutInSeconds must be a whole number from 0 to %d",
                         METHOD_CONNECT_TIMEOUT_MAX);
        return false;
    }
    /* Sent as JSON text; "null" when absent too (Node devices answer 400 to an empty
     * payload, spec 7 item 9). */
    const json_t *p = json_object_get(body, "payload");
    *payload = p ? json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
    if (!*payload) {
        rest_reply_error(r, ERR_SERVER, "out of memory encoding the method payload");
        return false;
    }
    if (strlen(*payload) > METHOD_PAYLOAD_MAX) {
        rest_reply_error(r, ERR_MESSAGE_TOO_LARGE,
                         "The payload of method %s for device %s exceeds %d bytes", *name, id,
                         METHOD_PAYLOAD_MAX);
        free(*payload);
        *payload = NULL;
        return false;
    }
    return true;
}

/* Creates the call and its home state and starts it. Replies itself on failure. */
static void start_call(struct rest_request *r, const char *id, const char *name, long response_s,
                       long connect_s, const char *payload)
{
    struct net_thread *home = rest_request_thread(r);
    struct invocation *inv = calloc(1, sizeof(*inv));
    struct method_call *call =
        home && inv ? method_call_new(id, name, payload, strlen(payload), response_s * 1000,
                                      connect_s * 1000, home, on_outcome, inv)
                    : NULL;
    if (call) {
        inv->call = call;
        inv->rest = rest_request_keep(r);
        inv->timer = evtimer_new(home->base, on_timer, inv);
        inv->evcon = evhttp_request_get_connection(r->req);
    }
    if (!call || !inv->rest || !inv->timer || !inv->evcon) {
        rest_reply_error(r, ERR_SERVER, "out of memory starting method %s for device %s", name, id);
        if (call) {
            inv->evcon = NULL;
            detach(inv);
            release(inv);
        } else {
            free(inv);
        }
        return;
    }
    inv->started_ms = time_now_ms();
    evhttp_connection_set_closecb(inv->evcon, on_http_close, inv);
    arm(inv, connect_s > 0 ? 1000 : response_s * 1000);
    /* Listed before the offer: a device that comes online in between finds the call. */
    if (connect_s > 0)
        method_waiters_add(call);
    if (!mqtt_methods_offer(r->hub, call) && connect_s == 0)
        not_online(inv, "is not connected");
    /* From here on the call answers from its callbacks. */
}

void rest_method_invoke(struct rest_request *r)
{
    const char *id = r->segments[1];
    const char *name = NULL;
    long response_s = 0, connect_s = 0;
    char *payload = NULL;
    json_t *body = NULL;
    if (parse_request(r, id, &name, &response_s, &connect_s, &payload, &body)) {
        struct device_auth auth;
        if (registry_get_device_auth(r->hub->registry, id, &auth) != REG_OK)
            rest_reply_error(r, ERR_DEVICE_NOT_FOUND, "Device %s not registered", id);
        else
            start_call(r, id, name, response_s, connect_s, payload);
    }
    free(payload);
    json_decref(body);
}
