/* Hub-to-device topics and the C2D property bag: classification and decoding. */
#include <stdlib.h>
#include <string.h>

#include "device_topics.h"
#include "internal.h"
#include "mqtt/propbag.h"

#define METHOD_PREFIX "$iothub/methods/POST/"
#define TWIN_RES      "$iothub/twin/res/"
#define TWIN_DESIRED  "$iothub/twin/PATCH/properties/desired"
#define C2D_SEGMENT   "/messages/devicebound"
#define SYSTEM_KEYS   8 /* system keys a bag may carry besides application properties */

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* A request id we can echo in a PUBLISH topic and a query string unchanged. */
static bool rid_ok(struct iotlib_span rid)
{
    if (rid.len == 0 || rid.len > IOTLIB_RID_MAX)
        return false;
    for (size_t i = 0; i < rid.len; i++) {
        unsigned char ch = (unsigned char)rid.ptr[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == '+' || ch == '#' || ch == '&')
            return false;
    }
    return true;
}

/* Finds the value of name in query ("k=v&k2=v2", no leading '?'). */
static bool query_get(const char *q, size_t len, const char *name, struct iotlib_span *value)
{
    size_t n = strlen(name);
    size_t i = 0;
    while (i <= len) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - q) : len;
        if (end - i > n && memcmp(q + i, name, n) == 0 && q[i + n] == '=') {
            value->ptr = q + i + n + 1;
            value->len = end - i - n - 1;
            return true;
        }
        if (!amp)
            break;
        i = end + 1;
    }
    return false;
}

/* rest = "/?query": the request id from it. */
static int parse_rid_query(const char *rest, size_t len, struct iotlib_span *rid)
{
    if (len < 2 || rest[0] != '/' || rest[1] != '?')
        return IOTHUB_EPROTOCOL;
    if (!query_get(rest + 2, len - 2, "$rid", rid) || !rid_ok(*rid))
        return IOTHUB_EPROTOCOL;
    return 0;
}

static int parse_method(const char *t, size_t len, struct iotlib_inbound *out)
{
    const char *slash = memchr(t, '/', len);
    size_t name_len = slash ? (size_t)(slash - t) : len;
    /* The name reaches the callback as a C string: no NUL inside. */
    if (name_len == 0 || name_len > IOTLIB_METHOD_NAME_MAX || !slash || memchr(t, '\0', name_len))
        return IOTHUB_EPROTOCOL;
    out->name.ptr = t;
    out->name.len = name_len;
    return parse_rid_query(slash, len - name_len, &out->rid);
}

static int parse_twin_response(const char *t, size_t len, struct iotlib_inbound *out)
{
    size_t digits = 0;
    int status = 0;
    while (digits < len && t[digits] >= '0' && t[digits] <= '9') {
        status = status * 10 + (t[digits] - '0');
        if (++digits > 3)
            return IOTHUB_EPROTOCOL;
    }
    if (digits == 0)
        return IOTHUB_EPROTOCOL;
    out->status = status;
    return parse_rid_query(t + digits, len - digits, &out->rid);
}

int iotlib_inbound_parse(const char *topic, size_t len, const char *device_id,
                         struct iotlib_inbound *out)
{
    if (!topic || !device_id || !out)
        return IOTHUB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (has_prefix(topic, len, METHOD_PREFIX)) {
        out->kind = IOTLIB_INBOUND_METHOD;
        size_t n = strlen(METHOD_PREFIX);
        return parse_method(topic + n, len - n, out);
    }
    if (has_prefix(topic, len, TWIN_RES)) {
        out->kind = IOTLIB_INBOUND_TWIN_RESPONSE;
        size_t n = strlen(TWIN_RES);
        return parse_twin_response(topic + n, len - n, out);
    }
    if (has_prefix(topic, len, TWIN_DESIRED)) {
        size_t n = strlen(TWIN_DESIRED);
        /* "...desired", "...desired/" or "...desired/?$version=v": the body says it all. */
        if (len == n || topic[n] == '/')
            out->kind = IOTLIB_INBOUND_TWIN_DESIRED;
        return 0;
    }
    /* devices/{id}/messages/devicebound[/{bag}] */
    size_t id_len = strlen(device_id);
    size_t head = strlen("devices/") + id_len + strlen(C2D_SEGMENT);
    if (len < head || !has_prefix(topic, len, "devices/") ||
        memcmp(topic + strlen("devices/"), device_id, id_len) != 0 ||
        memcmp(topic + strlen("devices/") + id_len, C2D_SEGMENT, strlen(C2D_SEGMENT)) != 0)
        return 0;
    if (len > head && topic[head] != '/')
        return 0; /* e.g. .../devicebound2: not ours */
    out->kind = IOTLIB_INBOUND_C2D;
    out->bag.ptr = topic + (len > head ? head + 1 : head);
    out->bag.len = len > head ? len - head - 1 : 0;
    return 0;
}

bool iotlib_rid_to_u32(struct iotlib_span rid, uint32_t *out)
{
    if (rid.len == 0 || rid.len > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < rid.len; i++) {
        if (rid.ptr[i] < '0' || rid.ptr[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(rid.ptr[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Applies one decoded bag entry to m. Returns 0 (applied or dropped) or IOTHUB_ENOMEM. */
static int apply_entry(iothub_message_t *m, const char *key, const char *value)
{
    int rc;
    if (strcmp(key, "$.mid") == 0)
        rc = iothub_message_set_message_id(m, value);
    else if (strcmp(key, "$.cid") == 0)
        rc = iothub_message_set_correlation_id(m, value);
    else if (strcmp(key, "$.ct") == 0)
        rc = iothub_message_set_content_type(m, value);
    else if (strcmp(key, "$.ce") == 0)
        rc = iothub_message_set_content_encoding(m, value);
    else if (strcmp(key, "$.uid") == 0)
        rc = iotlib_message_set_c2d_prop(m, IOTLIB_PROP_USER_ID, value);
    else if (strcmp(key, "$.to") == 0)
        rc = iotlib_message_set_c2d_prop(m, IOTLIB_PROP_TO, value);
    else if (strcmp(key, "$.exp") == 0)
        rc = iotlib_message_set_c2d_prop(m, IOTLIB_PROP_EXPIRY, value);
    else if (strcmp(key, "iothub-ack") == 0)
        rc = iotlib_message_set_c2d_prop(m, IOTLIB_PROP_ACK, value);
    else if (key[0] == '$')
        rc = 0; /* other system keys ($.cdid, $.ctime...): not exposed */
    else
        rc = iothub_message_property_set(m, key, value);
    /* EINVAL / ETOOBIG: a value the message API cannot hold; dropped. */
    return rc == IOTHUB_ENOMEM ? rc : 0;
}

int iotlib_c2d_message_decode(const char *bag, size_t bag_len, const uint8_t *body, size_t len,
                              iothub_message_t **out)
{
    if (!bag || !out || (!body && len > 0))
        return IOTHUB_EINVAL;
    if (len > IOTHUB_MESSAGE_MAX_SIZE)
        return IOTHUB_ETOOBIG;
    iothub_message_t *m = NULL;
    int rc = iothub_message_create_from_bytes(&m, body, len);
    if (rc)
        return rc;
    if (bag_len == 0) {
        *out = m;
        return 0;
    }
    size_t max = IOTHUB_MESSAGE_MAX_PROPERTIES + SYSTEM_KEYS;
    size_t cap = bag_len + 2 * max + 1;
    struct propbag_entry *entries = calloc(max, sizeof(*entries));
    char *scratch = malloc(cap);
    rc = IOTHUB_ENOMEM;
    if (!entries || !scratch)
        goto out_free;
    int n = propbag_parse(bag, bag_len, entries, max, scratch, cap);
    rc = IOTHUB_EPROTOCOL;
    if (n < 0)
        goto out_free;
    for (int i = 0; i < n; i++) {
        rc = apply_entry(m, entries[i].key, entries[i].value);
        if (rc)
            goto out_free;
    }
    rc = 0;
out_free:
    free(entries);
    free(scratch);
    if (rc) {
        iothub_message_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}
