/* Device twin requests over MQTT (spec 2.10): GET of the twin and PATCH of reported
 * properties, answered on $iothub/twin/res/{status}/?$rid={rid} (QoS 0). Every error answer
 * carries a JSON body with errorCode, message, trackingId and timestampUtc: Node detects
 * errors only by errorCode in the body.
 *
 * Rules chosen where the hosted service leaves room (docs/mqtt.md):
 * - A topic under $iothub/twin/ that is not one of the two requests, or that has no
 *   non-empty $rid, closes the connection, as any publish to an unsupported topic does
 *   (spec 2.4): there is no request id to answer to.
 * - Answers are only published when the device holds $iothub/twin/res/#. Without it a
 *   GET does nothing and a reported PATCH is still applied, unanswered.
 * - QoS 1 requests (Python) are acknowledged in PUBLISH order before the answer is sent. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "common/random.h"
#include "common/twin_doc.h"
#include "hub/hub.h"
#include "hub/mqtt/conn.h"
#include "hub/mqtt/endpoint.h"
#include "hub/mqtt/topics.h"
#include "hub/twin_push.h"
#include "store/twin_store.h"

#define TWIN_RID_MAX 128

enum twin_op { TWIN_OP_GET = 1, TWIN_OP_PATCH_REPORTED = 2 };

/* Errors a twin answer can carry (spec 3.2 numbers). */
enum {
    TWIN_ERR_INVALID = 400004,
    TWIN_ERR_FORMAT = 400006,
    TWIN_ERR_NOT_FOUND = 404001,
    TWIN_ERR_UNAVAILABLE = 503001,
};

struct twin_request {
    enum twin_op op;
    const char *rid; /* inside the topic, not NUL-terminated */
    size_t rid_len;
};

static bool rid_char_ok(char ch)
{
    return (unsigned char)ch > 0x20 && ch != 0x7f && ch != '/' && ch != '#' && ch != '+' &&
           ch != '&';
}

/* Splits "$iothub/twin/{op}/?{query}" into the operation and its $rid. */
static bool parse_topic(const char *t, size_t len, struct twin_request *req)
{
    static const char prefix[] = "$iothub/twin/";
    static const char get[] = "GET/?";
    static const char patch[] = "PATCH/properties/reported/?";
    size_t pos = sizeof(prefix) - 1;
    if (len >= pos + sizeof(get) - 1 && memcmp(t + pos, get, sizeof(get) - 1) == 0) {
        req->op = TWIN_OP_GET;
        pos += sizeof(get) - 1;
    } else if (len >= pos + sizeof(patch) - 1 && memcmp(t + pos, patch, sizeof(patch) - 1) == 0) {
        req->op = TWIN_OP_PATCH_REPORTED;
        pos += sizeof(patch) - 1;
    } else {
        return false;
    }
    /* Query parameters separated by '&'; $rid may be anywhere, clients put it first. */
    while (pos < len) {
        size_t end = pos;
        while (end < len && t[end] != '&')
            end++;
        if (end - pos > 5 && memcmp(t + pos, "$rid=", 5) == 0) {
            req->rid = t + pos + 5;
            req->rid_len = end - pos - 5;
            if (req->rid_len > TWIN_RID_MAX)
                return false;
            for (size_t i = 0; i < req->rid_len; i++)
                if (!rid_char_ok(req->rid[i]))
                    return false;
            return true;
        }
        pos = end + 1;
    }
    return false;
}

static void publish_response(struct mqtt_conn *c, const struct twin_request *req, int status,
                             int64_t version, const char *body, size_t body_len)
{
    char topic[64 + TWIN_RID_MAX + 32];
    int tlen = snprintf(topic, sizeof(topic), "$iothub/twin/res/%d/?$rid=%.*s", status,
                        (int)req->rid_len, req->rid);
    if (version > 0)
        tlen += snprintf(topic + tlen, sizeof(topic) - (size_t)tlen, "&$version=%" PRId64, version);
    struct mqtt_publish p = {
        .qos = 0,
        .topic = {topic, (size_t)tlen},
        .payload = (const uint8_t *)body,
        .payload_len = body_len,
    };
    size_t cap = body_len + (size_t)tlen + 16;
    uint8_t *buf = malloc(cap);
    size_t n = buf ? mqtt_encode_publish(buf, cap, &p) : 0;
    if (n)
        mqtt_conn_send(c, buf, n);
    else
        log_error("cannot answer a twin request: out of memory", "device=%s", c->id.device_id);
    free(buf);
}

/* An error answer; the body always holds errorCode (spec 2.10). */
static void publish_error(struct mqtt_conn *c, const struct twin_request *req, int code,
                          const char *message)
{
    char quoted[TWIN_WHY_SIZE + 128];
    log_info("mqtt twin request refused", "device=%s code=%d reason=%s", c->id.device_id, code,
             log_quote(message, quoted, sizeof(quoted)));
    if (!(c->subscriptions & SUB_TWIN_RESPONSES))
        return;
    char tracking[33] = "00000000000000000000000000000000", stamp[ISOTIME_SIZE];
    random_hex32(tracking);
    isotime_format(time_now_ms(), stamp, sizeof(stamp));
    json_t *body = json_pack("{s:i, s:s, s:s, s:s}", "errorCode", code, "message", message,
                             "trackingId", tracking, "timestampUtc", stamp);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char fallback[96]; /* out of memory: the code still goes out */
    snprintf(fallback, sizeof(fallback), "{\"errorCode\":%d,\"message\":\"request refused\"}",
             code);
    publish_response(c, req, code / 1000, 0, text ? text : fallback,
                     strlen(text ? text : fallback));
    free(text);
}

static void store_error(struct mqtt_conn *c, const struct twin_request *req, int rc)
{
    if (rc == REG_NOT_FOUND)
        publish_error(c, req, TWIN_ERR_NOT_FOUND, "the device is not registered");
    else
        publish_error(c, req, TWIN_ERR_UNAVAILABLE,
                      "the hub could not read or store the twin, nothing was changed: retry");
}

static void handle_get(struct mqtt_conn *c, const struct twin_request *req)
{
    if (!(c->subscriptions & SUB_TWIN_RESPONSES))
        return; /* nobody to answer */
    struct twin_doc doc;
    int rc = twin_store_get(c->mt->ep->hub->registry, c->id.device_id, &doc);
    if (rc != REG_OK) {
        store_error(c, req, rc);
        return;
    }
    json_t *body = json_pack("{s:o, s:o}", "desired", twin_section_json(&doc, TWIN_DESIRED, false),
                             "reported", twin_section_json(&doc, TWIN_REPORTED, false));
    twin_doc_free(&doc);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        publish_error(c, req, TWIN_ERR_UNAVAILABLE, "out of memory");
        return;
    }
    publish_response(c, req, 200, 0, text, strlen(text));
    free(text);
}

struct reported_change {
    const json_t *patch;
    char why[TWIN_WHY_SIZE];
};

/* Runs under the registry lock. */
static enum twin_edit apply_reported(struct twin_doc *d, int64_t now_ms, void *ctx)
{
    struct reported_change *ch = ctx;
    if (twin_doc_patch(d, TWIN_REPORTED, ch->patch, now_ms) != 0)
        return TWIN_EDIT_FAILED;
    if (!twin_doc_check_sizes(d, ch->why, sizeof(ch->why)))
        return TWIN_EDIT_REJECTED;
    twin_doc_bump(d);
    return TWIN_EDIT_CHANGED;
}

static void handle_patch_reported(struct mqtt_conn *c, const struct twin_request *req,
                                  const struct mqtt_publish *p)
{
    struct reported_change ch = {0};
    json_error_t err;
    json_t *patch = json_loadb((const char *)p->payload, p->payload_len, JSON_DECODE_ANY, &err);
    if (!patch) {
        char why[TWIN_WHY_SIZE + 64];
        snprintf(why, sizeof(why), "malformed JSON at line %d column %d: %s", err.line, err.column,
                 err.text);
        for (char *q = why; *q; q++)
            if ((unsigned char)*q >= 0x80)
                *q = '?'; /* jansson may quote the input: keep the body valid UTF-8 */
        publish_error(c, req, TWIN_ERR_FORMAT, why);
        return;
    }
    if (!twin_check_patch(patch, TWIN_REPORTED, ch.why, sizeof(ch.why))) {
        publish_error(c, req, TWIN_ERR_INVALID, ch.why);
        json_decref(patch);
        return;
    }
    ch.patch = patch;
    struct twin_doc doc;
    int rc = twin_store_update(c->mt->ep->hub->registry, c->id.device_id, NULL, apply_reported, &ch,
                               &doc);
    json_decref(patch);
    if (rc == REG_INVALID) {
        publish_error(c, req, TWIN_ERR_INVALID, ch.why);
        return;
    }
    if (rc != REG_OK) {
        store_error(c, req, rc);
        return;
    }
    int64_t version = doc.reported_version;
    twin_doc_free(&doc);
    if (c->subscriptions & SUB_TWIN_RESPONSES)
        publish_response(c, req, 204, version, "", 0);
}

int mqtt_handle_twin(struct mqtt_conn *c, const struct mqtt_publish *p)
{
    struct twin_request req = {0};
    if (!parse_topic(p->topic.ptr, p->topic.len, &req)) {
        log_warn("mqtt publish to an unsupported twin topic", "device=%s topic=\"%.*s\"",
                 c->id.device_id, (int)(p->topic.len > 200 ? 200 : p->topic.len), p->topic.ptr);
        mqtt_conn_close(c, "PUBLISH to an unsupported twin topic (or without $rid)");
        return -1;
    }
    if (p->qos == 1 && mqtt_conn_ack_in_order(c, p->packet_id) != 0)
        return -1;
    if (req.op == TWIN_OP_GET)
        handle_get(c, &req); /* the body is ignored: Node and Python send " " */
    else
        handle_patch_reported(c, &req, p);
    return 0;
}

void mqtt_twin_resume(struct mqtt_conn *c)
{
    /* Only persistent sessions keep the subscription while away (spec 2.5). */
    if (c->clean_session || !(c->subscriptions & SUB_TWIN_DESIRED) || c->state != CONN_ACTIVE)
        return;
    json_t *whole = NULL;
    int rc = twin_store_desired_catch_up(c->mt->ep->hub->registry, c->id.device_id, &whole);
    if (rc != REG_OK) {
        log_warn("cannot check for desired changes missed while away", "device=%s reason=\"%s\"",
                 c->id.device_id, registry_strerror(rc));
        return;
    }
    char *text = whole ? json_dumps(whole, JSON_COMPACT) : NULL;
    if (text)
        twin_push_send(c, json_integer_value(json_object_get(whole, "$version")), text,
                       strlen(text));
    free(text);
    json_decref(whole);
}
