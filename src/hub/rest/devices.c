/* Identity registry operations (spec 3.4): /devices and /devices/{id}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/device_json.h"
#include "common/strbuf.h"
#include "hub/hub.h"
#include "hub/rest/handlers.h"

#define DEVICE_BODY_MAX (64 * 1024)
#define LIST_TOP_MAX    1000

/* If-Match without its surrounding quotes; NULL when absent. Node quotes even "*". */
static const char *if_match(const struct rest_request *r, char *buf, size_t cap)
{
    const char *v = rest_header(r, "If-Match");
    if (!v)
        return NULL;
    size_t len = strlen(v);
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    if (!str_copy_n(buf, cap, v, len))
        return NULL;
    return buf;
}

static void reply_registry_error(struct rest_request *r, int rc, const char *id)
{
    switch (rc) {
    case REG_NOT_FOUND:
        rest_reply_error(r, ERR_DEVICE_NOT_FOUND, "Device %s not registered", id);
        break;
    case REG_EXISTS:
        rest_reply_error(r, ERR_DEVICE_ALREADY_EXISTS,
                         "A device with ID '%s' is already registered.", id);
        break;
    case REG_PRECONDITION:
        rest_reply_error(r, ERR_PRECONDITION_FAILED,
                         "The If-Match etag does not match the current etag of device %s", id);
        break;
    case REG_INVALID:
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "The request for device %s is not valid", id);
        break;
    default:
        rest_reply_error(r, ERR_SERVICE_UNAVAILABLE,
                         "The registry could not store the change (%s), nothing was changed. "
                         "Check the hub's disk and retry",
                         registry_strerror(rc));
        break;
    }
}

static void reply_device(struct rest_request *r, const struct device *dev)
{
    json_t *body = device_to_json(dev);
    if (!body) {
        rest_reply_error(r, ERR_SERVER, "out of memory formatting device %s", dev->device_id);
        return;
    }
    rest_reply_json(r, 200, body, dev->etag);
}

void rest_devices_list(struct rest_request *r)
{
    char buf[32];
    const char *top_s = rest_query_param(r, "top", buf, sizeof(buf));
    long top = top_s ? strtol(top_s, NULL, 10) : LIST_TOP_MAX;
    if (top < 1 || top > LIST_TOP_MAX)
        top = LIST_TOP_MAX;
    struct device *devs = NULL;
    size_t count = 0;
    int rc = registry_list_devices(r->hub->registry, (size_t)top, &devs, &count);
    if (rc != REG_OK) {
        reply_registry_error(r, rc, "(list)");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < count; i++)
        if (json_array_append_new(arr, device_to_json(&devs[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(devs);
    if (!arr) {
        rest_reply_error(r, ERR_SERVER, "out of memory listing devices");
        return;
    }
    rest_reply_json(r, 200, arr, NULL);
}

void rest_device_get(struct rest_request *r)
{
    const char *id = r->segments[1];
    struct device dev;
    int rc = registry_get_device(r->hub->registry, id, &dev);
    if (rc != REG_OK) {
        reply_registry_error(r, rc, id);
        return;
    }
    reply_device(r, &dev);
}

/* Applies the members the request gave to cur. */
static void merge_request(struct device *cur, const struct device_request *req)
{
    const struct device *in = &req->dev;
    if (req->has_status)
        cur->enabled = in->enabled;
    if (req->has_status_reason) {
        cur->has_status_reason = in->has_status_reason;
        str_copy(cur->status_reason, sizeof(cur->status_reason), in->status_reason);
    }
    if (req->has_auth) {
        cur->auth_type = in->auth_type;
        str_copy(cur->primary_key, sizeof(cur->primary_key), in->primary_key);
        str_copy(cur->secondary_key, sizeof(cur->secondary_key), in->secondary_key);
        str_copy(cur->primary_thumbprint, sizeof(cur->primary_thumbprint), in->primary_thumbprint);
        str_copy(cur->secondary_thumbprint, sizeof(cur->secondary_thumbprint),
                 in->secondary_thumbprint);
    }
    if (req->has_capabilities)
        cur->iot_edge = in->iot_edge;
    if (req->has_device_scope)
        str_copy(cur->device_scope, sizeof(cur->device_scope), in->device_scope);
}

void rest_device_put(struct rest_request *r)
{
    const char *id = r->segments[1];
    if (!device_id_valid(id)) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID,
                         "Invalid deviceId: up to 128 ASCII letters, digits and - . + %% _ # * ? "
                         "! ( ) , = @ $ '");
        return;
    }
    if (r->body_len > DEVICE_BODY_MAX) {
        rest_reply_error(r, ERR_MESSAGE_TOO_LARGE, "The device body is %zu bytes, at most %d",
                         r->body_len, DEVICE_BODY_MAX);
        return;
    }
    struct device_request *req = malloc(sizeof(*req));
    struct device *cur = malloc(sizeof(*cur));
    if (!req || !cur) {
        rest_reply_error(r, ERR_SERVER, "out of memory");
        goto out;
    }
    char bad_field[128], reason[256];
    int parsed = device_request_parse(r->body, r->body_len, req, bad_field, sizeof(bad_field),
                                      reason, sizeof(reason));
    if (parsed == -2) {
        rest_reply_error(r, ERR_FORMAT, "Malformed device JSON: %s", reason);
        goto out;
    }
    if (parsed != 0) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "Invalid %s: %s", bad_field, reason);
        goto out;
    }
    if (req->dev.device_id[0] && strcmp(req->dev.device_id, id) != 0) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID,
                         "Invalid deviceId: the body names '%s' but the path names '%s'",
                         req->dev.device_id, id);
        goto out;
    }
    char etag_buf[64];
    const char *match = if_match(r, etag_buf, sizeof(etag_buf));
    int rc;
    if (!match) {
        str_copy(req->dev.device_id, sizeof(req->dev.device_id), id);
        if (!req->has_status)
            req->dev.enabled = true;
        rc = registry_create_device(r->hub->registry, &req->dev, cur);
    } else {
        rc = registry_get_device(r->hub->registry, id, cur);
        if (rc == REG_OK) {
            merge_request(cur, req);
            rc = registry_update_device(r->hub->registry, cur, match, cur);
        }
    }
    if (rc != REG_OK)
        reply_registry_error(r, rc, id);
    else
        reply_device(r, cur);
out:
    free(req);
    free(cur);
}

void rest_device_delete(struct rest_request *r)
{
    const char *id = r->segments[1];
    char etag_buf[64];
    int rc = registry_delete_device(r->hub->registry, id, if_match(r, etag_buf, sizeof(etag_buf)));
    if (rc != REG_OK) {
        reply_registry_error(r, rc, id);
        return;
    }
    rest_reply_no_content(r);
}

void rest_statistics_devices(struct rest_request *r)
{
    struct registry_stats st;
    int rc = registry_statistics(r->hub->registry, &st);
    if (rc != REG_OK) {
        reply_registry_error(r, rc, "(statistics)");
        return;
    }
    rest_reply_json(r, 200,
                    json_pack("{s:I, s:I, s:I}", "totalDeviceCount", (json_int_t)st.total,
                              "enabledDeviceCount", (json_int_t)st.enabled, "disabledDeviceCount",
                              (json_int_t)st.disabled),
                    NULL);
}
