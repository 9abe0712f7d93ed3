/* iothub_message_t: body, system properties and application properties. */
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include "internal.h"
#include "mqtt/mqtt.h"
#include "mqtt/propbag.h"

#define SYSPROP_MAX 1024

struct prop {
    char *key;
    char *value;
};

struct iothub_message_s {
    iothub_message_kind_t kind;
    uint8_t *body; /* always NUL-terminated one past len */
    size_t len;
    char *message_id;
    char *correlation_id;
    char *content_type;
    char *content_encoding;
    /* Set only on received cloud-to-device messages (iotlib_message_set_c2d_prop). */
    char *c2d[IOTLIB_PROP_COUNT];
    struct prop *props;
    size_t nprops;
    size_t cap_props;
};

static int message_new(iothub_message_t **out, const void *body, size_t len,
                       iothub_message_kind_t kind)
{
    if (!out || (!body && len > 0))
        return IOTHUB_EINVAL;
    if (len > IOTHUB_MESSAGE_MAX_SIZE)
        return IOTHUB_ETOOBIG;
    iothub_message_t *m = calloc(1, sizeof(*m));
    if (!m)
        return IOTHUB_ENOMEM;
    m->body = malloc(len + 1);
    if (!m->body) {
        free(m);
        return IOTHUB_ENOMEM;
    }
    if (len > 0)
        memcpy(m->body, body, len);
    m->body[len] = '\0';
    m->len = len;
    m->kind = kind;
    *out = m;
    return 0;
}

int iothub_message_create_from_bytes(iothub_message_t **out, const void *body, size_t len)
{
    return message_new(out, body, len, IOTHUB_MESSAGE_BYTES);
}

int iothub_message_create_from_string(iothub_message_t **out, const char *s)
{
    if (!s)
        return IOTHUB_EINVAL;
    return message_new(out, s, strlen(s), IOTHUB_MESSAGE_STRING);
}

static void props_free(struct prop *props, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(props[i].key);
        free(props[i].value);
    }
    free(props);
}

void iothub_message_destroy(iothub_message_t *msg)
{
    if (!msg)
        return;
    free(msg->body);
    free(msg->message_id);
    free(msg->correlation_id);
    free(msg->content_type);
    free(msg->content_encoding);
    for (size_t i = 0; i < IOTLIB_PROP_COUNT; i++)
        free(msg->c2d[i]);
    props_free(msg->props, msg->nprops);
    free(msg);
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : IOTHUB_ENOMEM;
}

int iothub_message_clone(iothub_message_t **out, const iothub_message_t *msg)
{
    if (!out || !msg)
        return IOTHUB_EINVAL;
    iothub_message_t *m = NULL;
    int rc = message_new(&m, msg->body, msg->len, msg->kind);
    if (rc)
        return rc;
    rc = IOTHUB_ENOMEM;
    if (dup_opt(&m->message_id, msg->message_id) ||
        dup_opt(&m->correlation_id, msg->correlation_id) ||
        dup_opt(&m->content_type, msg->content_type) ||
        dup_opt(&m->content_encoding, msg->content_encoding))
        goto fail_message;
    for (size_t i = 0; i < IOTLIB_PROP_COUNT; i++)
        if (dup_opt(&m->c2d[i], msg->c2d[i]))
            goto fail_message;
    if (msg->nprops > 0) {
        m->props = calloc(msg->nprops, sizeof(*m->props));
        if (!m->props)
            goto fail_message;
        m->cap_props = msg->nprops;
        for (size_t i = 0; i < msg->nprops; i++) {
            m->props[i].key = strdup(msg->props[i].key);
            m->props[i].value = strdup(msg->props[i].value);
            m->nprops = i + 1;
            if (!m->props[i].key || !m->props[i].value)
                goto fail_message;
        }
    }
    *out = m;
    return 0;

fail_message:
    iothub_message_destroy(m);
    return rc;
}

iothub_message_kind_t iothub_message_get_kind(const iothub_message_t *msg)
{
    return msg ? msg->kind : IOTHUB_MESSAGE_BYTES;
}

int iothub_message_get_body(const iothub_message_t *msg, const uint8_t **body, size_t *len)
{
    if (!msg || !body || !len)
        return IOTHUB_EINVAL;
    *body = msg->body;
    *len = msg->len;
    return 0;
}

const char *iothub_message_get_string(const iothub_message_t *msg)
{
    if (!msg || msg->kind != IOTHUB_MESSAGE_STRING)
        return NULL;
    return (const char *)msg->body;
}

static int set_sysprop(iothub_message_t *msg, char **field, const char *value)
{
    if (!msg)
        return IOTHUB_EINVAL;
    if (!value) {
        free(*field);
        *field = NULL;
        return 0;
    }
    size_t n = strnlen(value, SYSPROP_MAX + 1);
    if (n == 0 || mqtt_check_utf8(value, n) != 0)
        return IOTHUB_EINVAL;
    if (n > SYSPROP_MAX)
        return IOTHUB_ETOOBIG;
    char *copy = strdup(value);
    if (!copy)
        return IOTHUB_ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

int iotlib_message_set_c2d_prop(iothub_message_t *msg, enum iotlib_c2d_prop which,
                                const char *value)
{
    if (!msg || (unsigned)which >= IOTLIB_PROP_COUNT)
        return IOTHUB_EINVAL;
    return set_sysprop(msg, &msg->c2d[which], value);
}

static const char *c2d_prop(const iothub_message_t *msg, enum iotlib_c2d_prop which)
{
    return msg ? msg->c2d[which] : NULL;
}

const char *iothub_message_get_user_id(const iothub_message_t *msg)
{
    return c2d_prop(msg, IOTLIB_PROP_USER_ID);
}

const char *iothub_message_get_to(const iothub_message_t *msg)
{
    return c2d_prop(msg, IOTLIB_PROP_TO);
}

const char *iothub_message_get_expiry_time_utc(const iothub_message_t *msg)
{
    return c2d_prop(msg, IOTLIB_PROP_EXPIRY);
}

const char *iothub_message_get_ack(const iothub_message_t *msg)
{
    return c2d_prop(msg, IOTLIB_PROP_ACK);
}

int iothub_message_set_message_id(iothub_message_t *msg, const char *message_id)
{
    return set_sysprop(msg, msg ? &msg->message_id : NULL, message_id);
}

const char *iothub_message_get_message_id(const iothub_message_t *msg)
{
    return msg ? msg->message_id : NULL;
}

int iothub_message_set_correlation_id(iothub_message_t *msg, const char *correlation_id)
{
    return set_sysprop(msg, msg ? &msg->correlation_id : NULL, correlation_id);
}

const char *iothub_message_get_correlation_id(const iothub_message_t *msg)
{
    return msg ? msg->correlation_id : NULL;
}

int iothub_message_set_content_type(iothub_message_t *msg, const char *content_type)
{
    return set_sysprop(msg, msg ? &msg->content_type : NULL, content_type);
}

const char *iothub_message_get_content_type(const iothub_message_t *msg)
{
    return msg ? msg->content_type : NULL;
}

int iothub_message_set_content_encoding(iothub_message_t *msg, const char *content_encoding)
{
    return set_sysprop(msg, msg ? &msg->content_encoding : NULL, content_encoding);
}

const char *iothub_message_get_content_encoding(const iothub_message_t *msg)
{
    return msg ? msg->content_encoding : NULL;
}

static ssize_t prop_find(const iothub_message_t *msg, const char *key)
{
    for (size_t i = 0; i < msg->nprops; i++)
        if (strcmp(msg->props[i].key, key) == 0)
            return (ssize_t)i;
    return -1;
}

static int prop_put(iothub_message_t *msg, const char *key, const char *value, bool replace)
{
    if (!msg || !key || !value || key[0] == '\0' || key[0] == '$' ||
        mqtt_check_utf8(key, strlen(key)) != 0 || mqtt_check_utf8(value, strlen(value)) != 0)
        return IOTHUB_EINVAL;
    ssize_t at = prop_find(msg, key);
    if (at >= 0 && !replace)
        return IOTHUB_EEXIST;
    char *v = strdup(value);
    if (!v)
        return IOTHUB_ENOMEM;
    if (at >= 0) {
        free(msg->props[at].value);
        msg->props[at].value = v;
        return 0;
    }
    if (msg->nprops >= IOTHUB_MESSAGE_MAX_PROPERTIES)
        goto fail_value;
    char *k = strdup(key);
    if (!k) {
        free(v);
        return IOTHUB_ENOMEM;
    }
    if (msg->nprops == msg->cap_props) {
        size_t ncap = msg->cap_props ? msg->cap_props * 2 : 4;
        struct prop *np = realloc(msg->props, ncap * sizeof(*np));
        if (!np) {
            free(k);
            free(v);
            return IOTHUB_ENOMEM;
        }
        msg->props = np;
        msg->cap_props = ncap;
    }
    msg->props[msg->nprops].key = k;
    msg->props[msg->nprops].value = v;
    msg->nprops++;
    return 0;

fail_value:
    free(v);
    return IOTHUB_ETOOBIG;
}

int iothub_message_property_add(iothub_message_t *msg, const char *key, const char *value)
{
    return prop_put(msg, key, value, false);
}

int iothub_message_property_set(iothub_message_t *msg, const char *key, const char *value)
{
    return prop_put(msg, key, value, true);
}

const char *iothub_message_property_get(const iothub_message_t *msg, const char *key)
{
    if (!msg || !key)
        return NULL;
    ssize_t at = prop_find(msg, key);
    return at >= 0 ? msg->props[at].value : NULL;
}

int iothub_message_property_remove(iothub_message_t *msg, const char *key)
{
    if (!msg || !key)
        return IOTHUB_EINVAL;
    ssize_t at = prop_find(msg, key);
    if (at < 0)
        return IOTHUB_ENOTFOUND;
    free(msg->props[at].key);
    free(msg->props[at].value);
    memmove(&msg->props[at], &msg->props[at + 1],
            (msg->nprops - (size_t)at - 1) * sizeof(*msg->props));
    msg->nprops--;
    return 0;
}

size_t iothub_message_property_count(const iothub_message_t *msg)
{
    return msg ? msg->nprops : 0;
}

int iothub_message_property_at(const iothub_message_t *msg, size_t index, const char **key,
                               const char **value)
{
    if (!msg || index >= msg->nprops)
        return IOTHUB_EINVAL;
    if (key)
        *key = msg->props[index].key;
    if (value)
        *value = msg->props[index].value;
    return 0;
}

int iothub_message_encode_property_bag(const iothub_message_t *msg, char *out, size_t cap)
{
    if (!msg || !out || cap == 0)
        return IOTHUB_EINVAL;
    /* Four system properties plus the application ones; propbag_encode takes non-const
     * pointers but does not write through them. */
    struct propbag_entry entries[4 + IOTHUB_MESSAGE_MAX_PROPERTIES];
    size_t n = 0;
    static const char *const sys_keys[4] = {"$.mid", "$.cid", "$.ct", "$.ce"};
    const char *sys_vals[4] = {msg->message_id, msg->correlation_id, msg->content_type,
                               msg->content_encoding};
    for (size_t i = 0; i < 4; i++) {
        if (sys_vals[i]) {
            entries[n].key = (char *)sys_keys[i];
            entries[n].value = (char *)sys_vals[i];
            n++;
        }
    }
    for (size_t i = 0; i < msg->nprops; i++) {
        entries[n].key = msg->props[i].key;
        entries[n].value = msg->props[i].value;
        n++;
    }
    if (n == 0) {
        out[0] = '\0';
        return 0;
    }
    int len = propbag_encode(entries, n, out, cap);
    return len < 0 ? IOTHUB_ETOOBIG : len;
}
