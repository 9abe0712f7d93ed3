/* Parsing a device create/update request body (spec 3.3 input tolerance): only writable
 * members are taken, read-only ones are ignored whatever their type, and the first bad
 * writable member is named by its JSON path. Reasons never quote the body (it may hold
 * keys) and never contain ';' (the legacy error format splits on it). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "device_json.h"

struct parse_error {
    char *field;
    size_t field_cap;
    char *reason;
    size_t reason_cap;
};

static int fail(const struct parse_error *e, int code, const char *field, const char *reason)
{
    if (e->field_cap)
        snprintf(e->field, e->field_cap, "%s", field);
    if (e->reason_cap) {
        snprintf(e->reason, e->reason_cap, "%s", reason);
        for (char *p = e->reason; *p; p++)
            if (*p == ';')
                *p = ',';
    }
    return code;
}

/* The member, or NULL when absent or null (null counts as absent). */
static const json_t *member(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

static int parse_device_id(const json_t *root, struct device *dev, const struct parse_error *e)
{
    const json_t *v = member(root, "deviceId");
    if (!v)
        return 0;
    if (!json_is_string(v))
        return fail(e, -1, "deviceId", "deviceId must be a string");
    if (json_string_length(v) > DEVICE_ID_MAX || !device_id_valid(json_string_value(v)))
        return fail(e, -1, "deviceId",
                    "deviceId must be 1 to 128 ASCII letters, digits or - . + % _ # * ? ! ( ) "
                    ", = @ $ '");
    memcpy(dev->device_id, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int parse_status(const json_t *root, struct device_request *out, const struct parse_error *e)
{
    const json_t *v = member(root, "status");
    if (v) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcasecmp(s, "enabled") == 0)
            out->dev.enabled = true;
        else if (strcasecmp(s, "disabled") == 0)
            out->dev.enabled = false;
        else
            return fail(e, -1, "status", "status must be enabled or disabled");
        out->has_status = true;
    }
    v = json_object_get(root, "statusReason");
    if (!v)
        return 0;
    out->has_status_reason = true;
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(e, -1, "statusReason", "statusReason must be a string or null");
    if (json_string_length(v) > DEVICE_REASON_MAX)
        return fail(e, -1, "statusReason", "statusReason is longer than 128 characters");
    memcpy(out->dev.status_reason, json_string_value(v), json_string_length(v) + 1);
    out->dev.has_status_reason = true;
    return 0;
}

/* A key or thumbprint member of sub (a sub-object of authentication): "" and null are
 * empty, otherwise it must pass valid(). */
static int parse_credential(const json_t *sub, const char *name, const char *path,
                            bool (*valid)(const char *), const char *what, char *dst, size_t cap,
                            const struct parse_error *e)
{
    const json_t *v = sub ? member(sub, name) : NULL;
    char reason[128];
    dst[0] = '\0';
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        snprintf(reason, sizeof(reason), "%s must be a string or null", name);
        return fail(e, -1, path, reason);
    }
    if (json_string_length(v) == 0)
        return 0;
    if (json_string_length(v) >= cap || !valid(json_string_value(v))) {
        snprintf(reason, sizeof(reason), "%s is not %s", name, what);
        return fail(e, -1, path, reason);
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int parse_auth_type(const json_t *auth, struct device *dev, const struct parse_error *e)
{
    const json_t *v = member(auth, "type");
    if (!v) {
        /* What Node does when it normalises a request without a type. */
        dev->auth_type = dev->primary_thumbprint[0] || dev->secondary_thumbprint[0]
                             ? DEVICE_AUTH_SELF_SIGNED
                             : DEVICE_AUTH_SAS;
        return 0;
    }
    if (json_is_string(v)) {
        for (int t = DEVICE_AUTH_SAS; t <= DEVICE_AUTH_NONE; t++) {
            if (strcasecmp(json_string_value(v), device_auth_type_name(t)) == 0) {
                dev->auth_type = (enum device_auth_type)t;
                return 0;
            }
        }
    }
    return fail(e, -1, "authentication.type",
                "authentication.type must be sas, selfSigned, certificateAuthority or none");
}

static int parse_auth(const json_t *root, struct device_request *out, const struct parse_error *e)
{
    static const char key_what[] = "a base64 key of 16 to 64 bytes";
    static const char tp_what[] = "a thumbprint of 40 or 64 hex digits";
    struct device *dev = &out->dev;
    const json_t *auth = member(root, "authentication");
    if (!auth)
        return 0;
    if (!json_is_object(auth))
        return fail(e, -1, "authentication", "authentication must be an object");
    out->has_auth = true;
    const json_t *sym = member(auth, "symmetricKey");
    if (sym && !json_is_object(sym))
        return fail(e, -1, "authentication.symmetricKey",
                    "authentication.symmetricKey must be an object");
    const json_t *x509 = member(auth, "x509Thumbprint");
    if (x509 && !json_is_object(x509))
        return fail(e, -1, "authentication.x509Thumbprint",
                    "authentication.x509Thumbprint must be an object");
    if (parse_credential(sym, "primaryKey", "authentication.symmetricKey.primaryKey",
                         device_key_valid, key_what, dev->primary_key, sizeof(dev->primary_key),
                         e) != 0 ||
        parse_credential(sym, "secondaryKey", "authentication.symmetricKey.secondaryKey",
                         device_key_valid, key_what, dev->secondary_key, sizeof(dev->secondary_key),
                         e) != 0 ||
        parse_credential(x509, "primaryThumbprint",
                         "authentication.x509Thumbprint.primaryThumbprint", device_thumbprint_valid,
                         tp_what, dev->primary_thumbprint, sizeof(dev->primary_thumbprint),
                         e) != 0 ||
        parse_credential(x509, "secondaryThumbprint",
                         "authentication.x509Thumbprint.secondaryThumbprint",
                         device_thumbprint_valid, tp_what, dev->secondary_thumbprint,
                         sizeof(dev->secondary_thumbprint), e) != 0)
        return -1;
    return parse_auth_type(auth, dev, e);
}

static int parse_capabilities(const json_t *root, struct device_request *out,
                              const struct parse_error *e)
{
    const json_t *caps = member(root, "capabilities");
    if (!caps)
        return 0;
    if (!json_is_object(caps))
        return fail(e, -1, "capabilities", "capabilities must be an object");
    out->has_capabilities = true;
    const json_t *edge = member(caps, "iotEdge");
    if (edge && !json_is_boolean(edge))
        return fail(e, -1, "capabilities.iotEdge", "capabilities.iotEdge must be true or false");
    out->dev.iot_edge = json_is_true(edge);
    return 0;
}

static int parse_scopes(const json_t *root, struct device_request *out, const struct parse_error *e)
{
    const json_t *v = member(root, "deviceScope");
    if (v) {
        if (!json_is_string(v))
            return fail(e, -1, "deviceScope", "deviceScope must be a string");
        if (json_string_length(v) > DEVICE_SCOPE_MAX)
            return fail(e, -1, "deviceScope", "deviceScope is longer than 256 characters");
        memcpy(out->dev.device_scope, json_string_value(v), json_string_length(v) + 1);
        out->has_device_scope = true;
    }
    /* parentScopes is checked for shape only: nothing stores it yet. */
    const json_t *parents = member(root, "parentScopes");
    if (!parents)
        return 0;
    if (!json_is_array(parents))
        return fail(e, -1, "parentScopes", "parentScopes must be an array of strings");
    for (size_t i = 0; i < json_array_size(parents); i++)
        if (!json_is_string(json_array_get(parents, i)))
            return fail(e, -1, "parentScopes", "parentScopes must be an array of strings");
    return 0;
}

int device_request_parse(const char *body, size_t len, struct device_request *out, char *bad_field,
                         size_t bad_cap, char *reason, size_t reason_cap)
{
    const struct parse_error e = {bad_field, bad_cap, reason, reason_cap};
    json_error_t jerr;
    json_t *root = NULL;
    int rc;
    memset(out, 0, sizeof(*out));
    out->dev.enabled = true;
    out->dev.auth_type = DEVICE_AUTH_SAS;
    fail(&e, 0, "", "");
    if (!body) {
        rc = fail(&e, -2, "body", "the request has no body");
        goto out;
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        /* jerr.text quotes the offending token, which may be a key: give the place only. */
        char why[96];
        snprintf(why, sizeof(why), "malformed JSON at line %d column %d", jerr.line, jerr.column);
        rc = fail(&e, -2, "body", why);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = fail(&e, -1, "body", "the body must be a JSON object");
        goto out;
    }
    if (parse_device_id(root, &out->dev, &e) != 0 || parse_status(root, out, &e) != 0 ||
        parse_auth(root, out, &e) != 0 || parse_capabilities(root, out, &e) != 0 ||
        parse_scopes(root, out, &e) != 0) {
        rc = -1;
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc != 0)
        explicit_bzero(&out->dev, sizeof(out->dev));
    return rc;
}
