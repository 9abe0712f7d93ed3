/* Device identity JSON (spec 3.3): the hub's response shape and the client-side reader of
 * it. The request parser (with its input tolerance) is in device_request.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "device_json.h"
#include "isotime.h"

/* A string member, or null when s is empty (or is NULL). */
static json_t *string_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

/* Sets obj.name = value (stealing it); clears *ok when value is NULL (allocation or UTF-8
 * failure) or the set fails. */
static void put(json_t *obj, const char *name, json_t *value, bool *ok)
{
    if (!value || json_object_set_new(obj, name, value) != 0)
        *ok = false;
}

static json_t *time_json(int64_t ms)
{
    char buf[ISOTIME_SIZE];
    return json_string(isotime_format(ms, buf, sizeof(buf)));
}

static json_t *authentication_json(const struct device *dev)
{
    json_t *auth = json_object(), *sym = json_object(), *x509 = json_object();
    bool ok = auth && sym && x509;
    if (!ok) {
        json_decref(sym);
        json_decref(x509);
        goto out;
    }
    put(sym, "primaryKey", string_or_null(dev->primary_key), &ok);
    put(sym, "secondaryKey", string_or_null(dev->secondary_key), &ok);
    put(x509, "primaryThumbprint", string_or_null(dev->primary_thumbprint), &ok);
    put(x509, "secondaryThumbprint", string_or_null(dev->secondary_thumbprint), &ok);
    put(auth, "symmetricKey", sym, &ok);
    put(auth, "x509Thumbprint", x509, &ok);
    put(auth, "type", json_string(device_auth_type_name(dev->auth_type)), &ok);
out:
    if (!ok) {
        json_decref(auth);
        return NULL;
    }
    return auth;
}

json_t *device_to_json(const struct device *dev)
{
    json_t *obj = json_object();
    json_t *caps = json_object();
    bool ok = obj && caps;
    if (!ok) {
        json_decref(caps);
        goto out;
    }
    put(obj, "deviceId", json_string(dev->device_id), &ok);
    put(obj, "generationId", json_string(dev->generation_id), &ok);
    put(obj, "etag", json_string(dev->etag), &ok);
    put(obj, "connectionState", json_string(dev->connected ? "Connected" : "Disconnected"), &ok);
    put(obj, "status", json_string(dev->enabled ? "enabled" : "disabled"), &ok);
    put(obj, "statusReason", dev->has_status_reason ? json_string(dev->status_reason) : json_null(),
        &ok);
    put(obj, "connectionStateUpdatedTime", time_json(dev->connection_state_updated_ms), &ok);
    put(obj, "statusUpdatedTime", time_json(dev->status_updated_ms), &ok);
    put(obj, "lastActivityTime", time_json(dev->last_activity_ms), &ok);
    put(obj, "cloudToDeviceMessageCount", json_integer((json_int_t)dev->c2d_message_count), &ok);
    put(obj, "authentication", authentication_json(dev), &ok);
    put(caps, "iotEdge", json_boolean(dev->iot_edge), &ok);
    put(obj, "capabilities", caps, &ok);
    if (dev->device_scope[0])
        put(obj, "deviceScope", json_string(dev->device_scope), &ok);
out:
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Copies an optional string member; null and absent leave dst empty. -1 when the member
 * has another type or does not fit. */
static int copy_string(const json_t *obj, const char *name, char *dst, size_t cap)
{
    const json_t *v = json_object_get(obj, name);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* A timestamp member; anything unreadable counts as "never" (0). */
static int64_t read_time(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    int64_t ms = 0;
    if (!json_is_string(v) || isotime_parse(json_string_value(v), &ms) != 0)
        return 0;
    return ms;
}

static int64_t read_count(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static int read_auth(const json_t *auth, struct device *dev)
{
    const json_t *sym = json_object_get(auth, "symmetricKey");
    const json_t *x509 = json_object_get(auth, "x509Thumbprint");
    const json_t *type = json_object_get(auth, "type");
    dev->auth_type = DEVICE_AUTH_SAS;
    if (json_is_string(type)) {
        int t = -1;
        for (int i = DEVICE_AUTH_SAS; i <= DEVICE_AUTH_NONE && t < 0; i++)
            if (strcasecmp(json_string_value(type), device_auth_type_name(i)) == 0)
                t = i;
        if (t < 0)
            return -1;
        dev->auth_type = (enum device_auth_type)t;
    }
    if (json_is_object(sym) &&
        (copy_string(sym, "primaryKey", dev->primary_key, sizeof(dev->primary_key)) != 0 ||
         copy_string(sym, "secondaryKey", dev->secondary_key, sizeof(dev->secondary_key)) != 0))
        return -1;
    if (json_is_object(x509) && (copy_string(x509, "primaryThumbprint", dev->primary_thumbprint,
                                             sizeof(dev->primary_thumbprint)) != 0 ||
                                 copy_string(x509, "secondaryThumbprint", dev->secondary_thumbprint,
                                             sizeof(dev->secondary_thumbprint)) != 0))
        return -1;
    return 0;
}

int device_from_json(const json_t *obj, struct device *dev)
{
    memset(dev, 0, sizeof(*dev));
    dev->enabled = true;
    if (!json_is_object(obj))
        return -1;
    if (copy_string(obj, "deviceId", dev->device_id, sizeof(dev->device_id)) != 0 ||
        !dev->device_id[0])
        goto fail;
    if (copy_string(obj, "generationId", dev->generation_id, sizeof(dev->generation_id)) != 0 ||
        copy_string(obj, "etag", dev->etag, sizeof(dev->etag)) != 0 ||
        copy_string(obj, "statusReason", dev->status_reason, sizeof(dev->status_reason)) != 0 ||
        copy_string(obj, "deviceScope", dev->device_scope, sizeof(dev->device_scope)) != 0)
        goto fail;
    dev->has_status_reason = json_is_string(json_object_get(obj, "statusReason"));
    const json_t *status = json_object_get(obj, "status");
    if (json_is_string(status))
        dev->enabled = strcasecmp(json_string_value(status), "disabled") != 0;
    const json_t *state = json_object_get(obj, "connectionState");
    dev->connected =
        json_is_string(state) && strcasecmp(json_string_value(state), "Connected") == 0;
    dev->connection_state_updated_ms = read_time(obj, "connectionStateUpdatedTime");
    dev->status_updated_ms = read_time(obj, "statusUpdatedTime");
    dev->last_activity_ms = read_time(obj, "lastActivityTime");
    dev->c2d_message_count = read_count(obj, "cloudToDeviceMessageCount");
    const json_t *auth = json_object_get(obj, "authentication");
    if (json_is_object(auth) && read_auth(auth, dev) != 0)
        goto fail;
    const json_t *caps = json_object_get(obj, "capabilities");
    dev->iot_edge = json_is_object(caps) && json_is_true(json_object_get(caps, "iotEdge"));
    return 0;
fail:
    explicit_bzero(dev, sizeof(*dev));
    return -1;
}
