/* Twin JSON of the service REST API (twin_json.h). */
#include "hub/twin_json.h"

#include "common/isotime.h"

static json_t *string_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

json_t *twin_json(const struct device *dev, const struct twin_doc *doc)
{
    char etag[TWIN_ETAG_SIZE], status_time[ISOTIME_SIZE], activity[ISOTIME_SIZE];
    twin_etag_format(doc->etag, etag);
    isotime_format(dev->status_updated_ms, status_time, sizeof(status_time));
    isotime_format(dev->last_activity_ms, activity, sizeof(activity));
    json_t *desired = twin_section_json(doc, TWIN_DESIRED, true);
    json_t *reported = twin_section_json(doc, TWIN_REPORTED, true);
    if (!desired || !reported) {
        json_decref(desired);
        json_decref(reported);
        return NULL;
    }
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:{s:o, s:o}, s:I, s:O, "
        "s:{s:o, s:o}, s:{s:b}}",
        "deviceId", dev->device_id, "etag", etag, "deviceEtag", dev->etag, "status",
        dev->enabled ? "enabled" : "disabled", "statusUpdateTime", status_time, "connectionState",
        dev->connected ? "Connected" : "Disconnected", "lastActivityTime", activity,
        "cloudToDeviceMessageCount", (json_int_t)dev->c2d_message_count, "authenticationType",
        device_auth_type_name(dev->auth_type), "x509Thumbprint", "primaryThumbprint",
        string_or_null(dev->primary_thumbprint), "secondaryThumbprint",
        string_or_null(dev->secondary_thumbprint), "version", (json_int_t)doc->version, "tags",
        doc->tags, "properties", "desired", desired, "reported", reported, "capabilities",
        "iotEdge", dev->iot_edge);
    if (!out)
        return NULL;
    if ((dev->has_status_reason &&
         json_object_set_new(out, "statusReason", json_string(dev->status_reason)) != 0) ||
        (dev->device_scope[0] &&
         json_object_set_new(out, "deviceScope", json_string(dev->device_scope)) != 0) ||
        (doc->model_id && json_object_set_new(out, "modelId", json_string(doc->model_id)) != 0)) {
        json_decref(out);
        return NULL;
    }
    return out;
}
