/* Decoding of a service C2D message (spec 5.3): `to` names the device, message-id and
 * correlation-id of any of the SDKs' types become text, iothub-ack is taken out of the
 * application properties, the rest of them are kept as an encoded bag for the device. */
#include "hub/amqp/c2d_decode.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "hub/amqp/address.h"

static bool unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static int put_encoded(char **buf, size_t *len, size_t *cap, size_t max, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        if (*len + 4 > *cap) {
            size_t want = *cap ? *cap * 2 : 256;
            char *b = realloc(*buf, want);
            if (!b)
                return -1;
            *buf = b;
            *cap = want;
        }
        unsigned char ch = (unsigned char)s[i];
        if (unreserved(ch)) {
            (*buf)[(*len)++] = (char)ch;
        } else {
            (*buf)[(*len)++] = '%';
            (*buf)[(*len)++] = hex[ch >> 4];
            (*buf)[(*len)++] = hex[ch & 15];
        }
        if (*len > max)
            return -1;
    }
    (*buf)[*len] = '\0';
    return 0;
}

static int put_raw(char **buf, size_t *len, size_t *cap, size_t max, char ch)
{
    if (*len + 2 > *cap) {
        size_t want = *cap ? *cap * 2 : 256;
        char *b = realloc(*buf, want);
        if (!b)
            return -1;
        *buf = b;
        *cap = want;
    }
    (*buf)[(*len)++] = ch;
    (*buf)[*len] = '\0';
    return *len > max ? -1 : 0;
}

int c2d_bag_append(char **buf, size_t *len, size_t *cap, size_t max, const char *key,
                   size_t key_len, const char *value, size_t value_len)
{
    if (*len && put_raw(buf, len, cap, max, '&') != 0)
        return -1;
    if (put_encoded(buf, len, cap, max, key, key_len) != 0)
        return -1;
    if (!value)
        return 0;
    if (put_raw(buf, len, cap, max, '=') != 0)
        return -1;
    return put_encoded(buf, len, cap, max, value, value_len);
}

/* Text without NUL or other control bytes (what may travel in an MQTT topic). */
static bool plain_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void uuid_text(const pn_uuid_t *u, char out[37])
{
    const unsigned char *b = (const unsigned char *)u->bytes;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* message-id or correlation-id as text: string, symbol, uuid (lower-case canonical), ulong
 * (decimal) or binary (its bytes as text). *out NULL when absent. */
static enum c2d_decode_result id_text(pn_msgid_t id, const char *what, char **out, char *why,
                                      size_t cap)
{
    char tmp[40];
    const char *s = NULL;
    size_t n = 0;
    *out = NULL;
    switch (id.type) {
    case PN_NULL:
        return C2D_DECODE_OK;
    case PN_STRING:
    case PN_SYMBOL:
    case PN_BINARY:
        s = id.u.as_bytes.start;
        n = id.u.as_bytes.size;
        break;
    case PN_UUID:
        uuid_text(&id.u.as_uuid, tmp);
        s = tmp;
        n = strlen(tmp);
        break;
    case PN_ULONG:
        n = (size_t)snprintf(tmp, sizeof(tmp), "%" PRIu64, id.u.as_ulong);
        s = tmp;
        break;
    default:
        snprintf(why, cap, "%s must be a string, uuid, ulong or binary", what);
        return C2D_DECODE_INVALID;
    }
    if (n == 0 || n > C2D_ID_MAX || !plain_text(s, n)) {
        snprintf(why, cap, "%s must be 1 to %d characters of text", what, C2D_ID_MAX);
        return C2D_DECODE_INVALID;
    }
    *out = dup_n(s, n);
    return *out ? C2D_DECODE_OK : C2D_DECODE_NO_MEMORY;
}

static enum c2d_decode_result opt_text(const char *s, size_t n, const char *what, char **out,
                                       char *why, size_t cap)
{
    *out = NULL;
    if (!s)
        return C2D_DECODE_OK;
    if (n > C2D_SYSTEM_VALUE_MAX || !plain_text(s, n)) {
        snprintf(why, cap, "%s must be at most %d characters of text", what, C2D_SYSTEM_VALUE_MAX);
        return C2D_DECODE_INVALID;
    }
    *out = dup_n(s, n);
    return *out ? C2D_DECODE_OK : C2D_DECODE_NO_MEMORY;
}

/* An application property value as text. *is_null for a null value. -1: a type a device
 * property cannot carry. */
static int value_text(pn_data_t *p, char *tmp, size_t tmp_cap, pn_bytes_t *out, bool *is_null)
{
    *is_null = false;
    int n = -1;
    switch (pn_data_type(p)) {
    case PN_NULL:
        *is_null = true;
        *out = pn_bytes(0, "");
        return 0;
    case PN_STRING:
        *out = pn_data_get_string(p);
        return 0;
    case PN_SYMBOL:
        *out = pn_data_get_symbol(p);
        return 0;
    case PN_BOOL:
        n = snprintf(tmp, tmp_cap, "%s", pn_data_get_bool(p) ? "true" : "false");
        break;
    case PN_UBYTE:
        n = snprintf(tmp, tmp_cap, "%u", (unsigned)pn_data_get_ubyte(p));
        break;
    case PN_BYTE:
        n = snprintf(tmp, tmp_cap, "%d", (int)pn_data_get_byte(p));
        break;
    case PN_USHORT:
        n = snprintf(tmp, tmp_cap, "%u", (unsigned)pn_data_get_ushort(p));
        break;
    case PN_SHORT:
        n = snprintf(tmp, tmp_cap, "%d", (int)pn_data_get_short(p));
        break;
    case PN_UINT:
        n = snprintf(tmp, tmp_cap, "%" PRIu32, pn_data_get_uint(p));
        break;
    case PN_INT:
        n = snprintf(tmp, tmp_cap, "%" PRId32, pn_data_get_int(p));
        break;
    case PN_ULONG:
        n = snprintf(tmp, tmp_cap, "%" PRIu64, pn_data_get_ulong(p));
        break;
    case PN_LONG:
        n = snprintf(tmp, tmp_cap, "%" PRId64, pn_data_get_long(p));
        break;
    case PN_FLOAT:
        n = snprintf(tmp, tmp_cap, "%.9g", (double)pn_data_get_float(p));
        break;
    case PN_DOUBLE:
        n = snprintf(tmp, tmp_cap, "%.17g", pn_data_get_double(p));
        break;
    case PN_TIMESTAMP:
        isotime_format(pn_data_get_timestamp(p), tmp, tmp_cap);
        n = (int)strlen(tmp);
        break;
    case PN_UUID: {
        pn_uuid_t u = pn_data_get_uuid(p);
        if (tmp_cap < 37)
            return -1;
        uuid_text(&u, tmp);
        n = 36;
        break;
    }
    default:
        return -1;
    }
    if (n < 0 || (size_t)n >= tmp_cap)
        return -1;
    *out = pn_bytes((size_t)n, tmp);
    return 0;
}

/* Application properties: iothub-ack into out->ack, the others into out->app_properties. */
static enum c2d_decode_result app_properties(pn_message_t *msg, struct c2d_message *out, char *why,
                                             size_t cap)
{
    char *bag = NULL;
    size_t len = 0, bag_cap = 0;
    enum c2d_decode_result rc = C2D_DECODE_OK;
    pn_data_t *p = pn_message_properties(msg);
    pn_data_rewind(p);
    if (pn_data_next(p)) {
        if (pn_data_type(p) != PN_MAP) {
            snprintf(why, cap, "application-properties must be a map");
            return C2D_DECODE_INVALID;
        }
        size_t n = pn_data_get_map(p);
        pn_data_enter(p);
        for (size_t i = 0; i + 1 < n && rc == C2D_DECODE_OK; i += 2) {
            if (!pn_data_next(p))
                break;
            pn_type_t kt = pn_data_type(p);
            pn_bytes_t key = kt == PN_STRING   ? pn_data_get_string(p)
                             : kt == PN_SYMBOL ? pn_data_get_symbol(p)
                                               : pn_bytes(0, NULL);
            if (!pn_data_next(p))
                break;
            if ((kt != PN_STRING && kt != PN_SYMBOL) || key.size == 0 ||
                !plain_text(key.start, key.size)) {
                snprintf(why, cap, "application property names must be non-empty text");
                rc = C2D_DECODE_INVALID;
                break;
            }
            char tmp[64];
            pn_bytes_t value;
            bool is_null;
            if (value_text(p, tmp, sizeof(tmp), &value, &is_null) != 0 ||
                !plain_text(value.start, value.size)) {
                snprintf(why, cap,
                         "application property '%.*s' must be text, a number, a boolean, a "
                         "timestamp, a uuid or null",
                         (int)(key.size > 64 ? 64 : key.size), key.start);
                rc = C2D_DECODE_INVALID;
                break;
            }
            if (key.size == 10 && memcmp(key.start, "iothub-ack", 10) == 0) {
                char ack[16] = "";
                if (value.size < sizeof(ack))
                    memcpy(ack, value.start, value.size);
                if (is_null || value.size >= sizeof(ack) || c2d_ack_parse(ack, &out->ack) != 0) {
                    snprintf(why, cap, "iothub-ack must be none, positive, negative or full");
                    rc = C2D_DECODE_INVALID;
                    break;
                }
                out->ack_given = true;
                continue;
            }
            if (c2d_bag_append(&bag, &len, &bag_cap, C2D_PROPERTIES_MAX, key.start, key.size,
                               is_null ? NULL : value.start, value.size) != 0) {
                rc = len > C2D_PROPERTIES_MAX ? C2D_DECODE_TOO_LARGE : C2D_DECODE_NO_MEMORY;
                snprintf(why, cap, "the application properties exceed %d bytes once encoded",
                         C2D_PROPERTIES_MAX);
            }
        }
        pn_data_exit(p);
    }
    if (rc != C2D_DECODE_OK) {
        free(bag);
        return rc;
    }
    out->app_properties = bag ? bag : dup_n("", 0);
    return out->app_properties ? C2D_DECODE_OK : C2D_DECODE_NO_MEMORY;
}

/* The body: a data section (or an AMQP value string or binary); none is empty. */
static enum c2d_decode_result body(pn_message_t *msg, struct c2d_message *out, char *why,
                                   size_t cap)
{
    pn_data_t *b = pn_message_body(msg);
    pn_data_rewind(b);
    pn_bytes_t v = pn_bytes(0, "");
    if (pn_data_next(b)) {
        switch (pn_data_type(b)) {
        case PN_BINARY:
            v = pn_data_get_binary(b);
            break;
        case PN_STRING:
            v = pn_data_get_string(b);
            break;
        case PN_NULL:
            break;
        default:
            snprintf(why, cap, "the body must be a data section (bytes)");
            return C2D_DECODE_INVALID;
        }
    }
    if (v.size > C2D_BODY_MAX) {
        snprintf(why, cap, "the body has %zu bytes; cloud-to-device messages are limited to %d",
                 v.size, C2D_BODY_MAX);
        return C2D_DECODE_TOO_LARGE;
    }
    out->body = malloc(v.size ? v.size : 1);
    if (!out->body)
        return C2D_DECODE_NO_MEMORY;
    if (v.size)
        memcpy(out->body, v.start, v.size);
    out->body_len = v.size;
    return C2D_DECODE_OK;
}

enum c2d_decode_result amqp_c2d_decode(pn_message_t *msg, const char *bytes, size_t len,
                                       struct c2d_message *out, char *why, size_t why_cap)
{
    memset(out, 0, sizeof(*out));
    if (len == 0 || pn_message_decode(msg, bytes, len) != 0) {
        snprintf(why, why_cap, "the transfer is not a valid AMQP message");
        return C2D_DECODE_INVALID;
    }
    enum c2d_decode_result rc = C2D_DECODE_OK;
    const char *to = pn_message_get_address(msg);
    int trc = amqp_c2d_target_parse(to, out->device_id, sizeof(out->device_id));
    if (trc != 0) {
        if (trc == -2)
            snprintf(why, why_cap,
                     "modules have no cloud-to-device messages: send to "
                     "/devices/{deviceId}/messages/devicebound");
        else
            snprintf(why, why_cap,
                     "properties.to must be /devices/{url-encoded deviceId}/messages/devicebound"
                     " with a valid device id, not '%.200s'",
                     to ? to : "(none)");
        return C2D_DECODE_INVALID;
    }
    pn_bytes_t user = pn_message_get_user_id(msg);
    const char *ct = pn_message_get_content_type(msg);
    const char *ce = pn_message_get_content_encoding(msg);
    if ((rc = id_text(pn_message_get_id(msg), "message-id", &out->message_id, why, why_cap)) ||
        (rc = id_text(pn_message_get_correlation_id(msg), "correlation-id", &out->correlation_id,
                      why, why_cap)) ||
        (rc = opt_text(user.size ? user.start : NULL, user.size, "user-id", &out->user_id, why,
                       why_cap)) ||
        (rc =
             opt_text(ct, ct ? strlen(ct) : 0, "content-type", &out->content_type, why, why_cap)) ||
        (rc = opt_text(ce, ce ? strlen(ce) : 0, "content-encoding", &out->content_encoding, why,
                       why_cap)) ||
        (rc = app_properties(msg, out, why, why_cap)) || (rc = body(msg, out, why, why_cap)))
        goto fail;
    pn_timestamp_t expiry = pn_message_get_expiry_time(msg);
    if (expiry < 0) {
        snprintf(why, why_cap, "absolute-expiry-time is before 1970");
        rc = C2D_DECODE_INVALID;
        goto fail;
    }
    if (expiry > 0) {
        out->expiry_given = true;
        out->expiry_ms = expiry;
    }
    return C2D_DECODE_OK;
fail:
    if (rc == C2D_DECODE_NO_MEMORY)
        snprintf(why, why_cap, "out of memory decoding the message");
    c2d_message_free(out);
    return rc;
}
