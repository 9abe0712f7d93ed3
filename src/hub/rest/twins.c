/* Device twins over the service REST API (spec 3.5): GET, PATCH (merge) and PUT (replace)
 * of /twins/{id}. Tags and desired properties are the service's; reported properties
 * belong to the device and are refused here. A desired change is pushed to the device
 * (twin_push.h). */
#include <string.h>

#include "common/twin_doc.h"
#include "hub/hub.h"
#include "hub/rest/handlers.h"
#include "hub/twin_json.h"
#include "hub/twin_push.h"
#include "store/twin_store.h"

/* Twice the sum of the section limits leaves room for whitespace and nulls. */
#define TWIN_BODY_MAX (2 * (TWIN_TAGS_MAX + 2 * TWIN_PROPS_MAX))

/* What a PATCH or PUT asks for; the json_t are borrowed from the parsed body. */
struct twin_change {
    const json_t *tags;    /* NULL: leave tags alone */
    const json_t *desired; /* NULL: leave desired alone */
    bool replace;          /* PUT: sections replaced wholesale */
    char why[TWIN_WHY_SIZE];
};

static void reply_store_error(struct rest_request *r, int rc, const char *id,
                              const struct twin_change *ch)
{
    switch (rc) {
    case REG_NOT_FOUND:
        rest_reply_error(r, ERR_DEVICE_NOT_FOUND, "Device %s not registered", id);
        break;
    case REG_PRECONDITION:
        rest_reply_error(r, ERR_PRECONDITION_FAILED,
                         "The If-Match etag does not match the current etag of the twin of %s", id);
        break;
    case REG_INVALID:
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "Invalid twin of %s: %s", id,
                         ch ? ch->why : "rejected");
        break;
    default:
        rest_reply_error(r, ERR_SERVICE_UNAVAILABLE,
                         "The registry could not read or store the twin of %s (%s), nothing "
                         "was changed. Check the hub's disk and retry",
                         id, registry_strerror(rc));
        break;
    }
}

/* Replies 200 with the twin of id built from the current identity and doc. */
static void reply_twin(struct rest_request *r, const char *id, const struct twin_doc *doc)
{
    struct device dev;
    int rc = registry_get_device(r->hub->registry, id, &dev);
    if (rc != REG_OK) {
        reply_store_error(r, rc, id, NULL);
        return;
    }
    json_t *body = twin_json(&dev, doc);
    explicit_bzero(&dev, sizeof(dev));
    if (!body) {
        rest_reply_error(r, ERR_SERVER, "out of memory formatting the twin of %s", id);
        return;
    }
    char etag[TWIN_ETAG_SIZE];
    twin_etag_format(doc->etag, etag);
    rest_reply_json(r, 200, body, etag);
}

void rest_twin_get(struct rest_request *r)
{
    const char *id = r->segments[1];
    struct twin_doc doc;
    int rc = twin_store_get(r->hub->registry, id, &doc);
    if (rc != REG_OK) {
        reply_store_error(r, rc, id, NULL);
        return;
    }
    reply_twin(r, id, &doc);
    twin_doc_free(&doc);
}

/* Runs under the registry lock: applies ch to the stored document. */
static enum twin_edit apply_change(struct twin_doc *d, int64_t now_ms, void *ctx)
{
    struct twin_change *ch = ctx;
    if (!ch->tags && !ch->desired)
        return TWIN_EDIT_UNCHANGED;
    int (*op)(struct twin_doc *, enum twin_section, const json_t *, int64_t) =
        ch->replace ? twin_doc_replace : twin_doc_patch;
    if ((ch->tags && op(d, TWIN_TAGS, ch->tags, now_ms) != 0) ||
        (ch->desired && op(d, TWIN_DESIRED, ch->desired, now_ms) != 0))
        return TWIN_EDIT_FAILED;
    if (!twin_doc_check_sizes(d, ch->why, sizeof(ch->why)))
        return TWIN_EDIT_REJECTED;
    twin_doc_bump(d);
    return TWIN_EDIT_CHANGED;
}

/* Reads the body into ch. Returns the parsed body (caller decrefs) or NULL after
 * replying. */
static json_t *parse_body(struct rest_request *r, struct twin_change *ch)
{
    if (r->body_len > TWIN_BODY_MAX) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "The twin body is %zu bytes, at most %d",
                         r->body_len, TWIN_BODY_MAX);
        return NULL;
    }
    json_error_t err;
    json_t *body = json_loadb(r->body ? r->body : "", r->body_len, JSON_DECODE_ANY, &err);
    if (!body) {
        for (char *q = err.text; *q; q++)
            if ((unsigned char)*q >= 0x80)
                *q = '?'; /* jansson may quote the input: keep the body valid UTF-8 */
        rest_reply_error(r, ERR_FORMAT, "Malformed twin JSON at line %d column %d: %s", err.line,
                         err.column, err.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "The twin body must be a JSON object");
        goto fail;
    }
    ch->tags = json_object_get(body, "tags");
    const json_t *props = json_object_get(body, "properties");
    if (props && !json_is_object(props)) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "properties must be a JSON object");
        goto fail;
    }
    if (props && json_object_get(props, "reported")) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID,
                         "properties.reported belongs to the device and cannot be changed by "
                         "the service: send tags and properties.desired only");
        goto fail;
    }
    ch->desired = props ? json_object_get(props, "desired") : NULL;
    if ((ch->tags && !twin_check_patch(ch->tags, TWIN_TAGS, ch->why, sizeof(ch->why))) ||
        (ch->desired && !twin_check_patch(ch->desired, TWIN_DESIRED, ch->why, sizeof(ch->why)))) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "Invalid twin: %s", ch->why);
        goto fail;
    }
    return body;
fail:
    json_decref(body);
    return NULL;
}

static void update(struct rest_request *r, bool replace)
{
    const char *id = r->segments[1];
    struct twin_change ch = {.replace = replace};
    json_t *body = parse_body(r, &ch);
    if (!body)
        return;
    json_t *empty = NULL;
    if (replace && (!ch.tags || !ch.desired)) {
        /* A replacement without a section empties it. */
        empty = json_object();
        if (!empty) {
            rest_reply_error(r, ERR_SERVER, "out of memory");
            json_decref(body);
            return;
        }
        if (!ch.tags)
            ch.tags = empty;
        if (!ch.desired)
            ch.desired = empty;
    }
    struct twin_doc doc;
    int rc = twin_store_update(r->hub->registry, id, rest_header(r, "If-Match"), apply_change, &ch,
                               &doc);
    if (rc != REG_OK) {
        reply_store_error(r, rc, id, &ch);
        goto out;
    }
    if (ch.desired) {
        json_t *note = replace ? twin_section_json(&doc, TWIN_DESIRED, false)
                               : twin_notification_json(ch.desired, doc.desired_version);
        if (note)
            twin_push_desired(r->hub, id, doc.desired_version, note);
        json_decref(note);
    }
    reply_twin(r, id, &doc);
    twin_doc_free(&doc);
out:
    json_decref(empty);
    json_decref(body);
}

void rest_twin_patch(struct rest_request *r)
{
    update(r, false);
}

void rest_twin_put(struct rest_request *r)
{
    update(r, true);
}
