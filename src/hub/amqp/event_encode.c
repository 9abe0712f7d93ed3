/* A stored telemetry record as the Event Hubs event the SDKs expect (spec 5.4): message
 * annotations (x-opt-* positions, iothub-* system properties), properties, application
 * properties and one data section. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "hub/amqp/internal.h"
#include "store/eventlog.h"

enum prop_field { F_NONE, F_MESSAGE_ID, F_CORRELATION_ID, F_USER_ID, F_TO, F_CT, F_CE, F_EXPIRY };

static const struct {
    const char *key;
    enum prop_field field;
} property_keys[] = {
    {"message-id", F_MESSAGE_ID},
    {"correlation-id", F_CORRELATION_ID},
    {"user-id", F_USER_ID},
    {"to", F_TO},
    {"content-type", F_CT},
    {"content-encoding", F_CE},
    {"absolute-expiry-time", F_EXPIRY},
};

static enum prop_field field_of(const struct eventlog_prop *p)
{
    for (size_t i = 0; i < sizeof(property_keys) / sizeof(property_keys[0]); i++)
        if (strlen(property_keys[i].key) == p->key_len &&
            memcmp(property_keys[i].key, p->key, p->key_len) == 0)
            return property_keys[i].field;
    return F_NONE;
}

static void put_symbol(pn_data_t *d, const char *s)
{
    pn_data_put_symbol(d, pn_bytes(strlen(s), s));
}

/* The device's expiry: milliseconds, or an ISO 8601 time. Returns 0 or -1. */
static int parse_expiry(const char *s, int64_t *ms)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end && v > 0) {
        *ms = v;
        return 0;
    }
    return isotime_parse(s, ms);
}

/* NUL-terminated copy of a property value (the log's are counted strings). */
static char *dup_value(const struct eventlog_prop *p)
{
    char *s = malloc(p->value_len + 1);
    if (s) {
        memcpy(s, p->value, p->value_len);
        s[p->value_len] = '\0';
    }
    return s;
}

static int set_property(pn_message_t *msg, const struct eventlog_prop *p, enum prop_field f)
{
    pn_bytes_t v = pn_bytes(p->value_len, p->value);
    if (f == F_MESSAGE_ID || f == F_CORRELATION_ID) {
        pn_atom_t id = {.type = PN_STRING};
        id.u.as_bytes = v;
        return f == F_MESSAGE_ID ? pn_message_set_id(msg, id)
                                 : pn_message_set_correlation_id(msg, id);
    }
    if (f == F_USER_ID)
        return pn_message_set_user_id(msg, v);
    char *s = dup_value(p);
    if (!s)
        return -1;
    int rc = 0;
    int64_t ms;
    switch (f) {
    case F_TO:
        rc = pn_message_set_address(msg, s);
        break;
    case F_CT:
        rc = pn_message_set_content_type(msg, s);
        break;
    case F_CE:
        rc = pn_message_set_content_encoding(msg, s);
        break;
    case F_EXPIRY:
        if (parse_expiry(s, &ms) == 0)
            rc = pn_message_set_expiry_time(msg, ms);
        break;
    default:
        break;
    }
    free(s);
    return rc;
}

ssize_t amqp_event_encode(pn_message_t *msg, const struct eventlog_record *rec, char **buf,
                          size_t *cap)
{
    pn_message_clear(msg);
    pn_message_set_inferred(msg, true); /* binary body = one data section */
    pn_data_t *ann = pn_message_annotations(msg);
    pn_data_put_map(ann);
    pn_data_enter(ann);
    for (size_t i = 0; i < rec->system_count; i++) {
        const struct eventlog_prop *p = &rec->system_props[i];
        enum prop_field f = field_of(p);
        if (f != F_NONE) {
            if (set_property(msg, p, f) != 0)
                return -1;
            continue;
        }
        pn_data_put_symbol(ann, pn_bytes(p->key_len, p->key));
        pn_data_put_string(ann, pn_bytes(p->value_len, p->value));
    }
    put_symbol(ann, "iothub-enqueuedtime");
    pn_data_put_timestamp(ann, rec->enqueued_ms);
    put_symbol(ann, "x-opt-sequence-number");
    pn_data_put_long(ann, (int64_t)rec->seq);
    char offset[24];
    int olen = snprintf(offset, sizeof(offset), "%llu", (unsigned long long)rec->offset);
    put_symbol(ann, "x-opt-offset");
    pn_data_put_string(ann, pn_bytes((size_t)olen, offset));
    put_symbol(ann, "x-opt-enqueued-time");
    pn_data_put_timestamp(ann, rec->enqueued_ms);
    pn_data_exit(ann);

    pn_data_t *app = pn_message_properties(msg);
    pn_data_put_map(app);
    pn_data_enter(app);
    for (size_t i = 0; i < rec->app_count; i++) {
        const struct eventlog_prop *p = &rec->app_props[i];
        pn_data_put_string(app, pn_bytes(p->key_len, p->key));
        pn_data_put_string(app, pn_bytes(p->value_len, p->value));
    }
    pn_data_exit(app);

    pn_data_t *body = pn_message_body(msg);
    pn_data_put_binary(body, pn_bytes(rec->body_len, (const char *)rec->body));
    return amqp_message_encode(msg, buf, cap);
}
