/* Record frames: encoding on the appending thread, sealing on the writer, and the
 * hostile-input decoder used by recovery, seeks and readers. Layout in record.h. */
#include "record.h"

#include <string.h>

#include "common/crc32c.h"
#include "format.h"

#define PAYLOAD_MAX ((uint32_t)EVENTLOG_RECORD_MAX - EL_FRAME_HEAD)

/* A bounds-checked cursor over the payload. */
struct cursor {
    const uint8_t *p;
    size_t left;
};

static int take32(struct cursor *c, uint32_t *v)
{
    if (c->left < 4)
        return -1;
    *v = el_get32(c->p);
    c->p += 4;
    c->left -= 4;
    return 0;
}

static int skip(struct cursor *c, size_t n)
{
    if (n > c->left)
        return -1;
    c->p += n;
    c->left -= n;
    return 0;
}

/* Walks count properties, checking that each fits in what is left. */
static int walk_props(struct cursor *c, uint32_t count)
{
    /* Each property needs EL_PROP_MIN bytes: a count beyond that is a lie, found before
     * any loop runs count times. */
    if (count > c->left / EL_PROP_MIN)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t klen, vlen;
        if (take32(c, &klen) != 0 || take32(c, &vlen) != 0)
            return -1;
        if (skip(c, klen) != 0 || skip(c, vlen) != 0)
            return -1;
    }
    return 0;
}

int record_check(const uint8_t *buf, size_t avail, uint32_t seed, struct record_head *head,
                 const char **why)
{
    const char *reason = NULL;
    int rc;
    if (avail < 4) {
        reason = "frame length cut short";
        rc = RECORD_INCOMPLETE;
        goto out;
    }
    uint32_t len = el_get32(buf);
    if (len < EL_PAYLOAD_MIN || len > PAYLOAD_MAX) {
        reason = "frame length out of bounds";
        rc = RECORD_BAD_LENGTH;
        goto out;
    }
    if (avail < EL_FRAME_HEAD || avail - EL_FRAME_HEAD < len) {
        reason = "frame cut short";
        rc = RECORD_INCOMPLETE;
        goto out;
    }
    const uint8_t *payload = buf + EL_FRAME_HEAD;
    if (crc32c(seed, payload, len) != el_get32(buf + 4)) {
        reason = "CRC32C mismatch";
        rc = RECORD_BAD_CRC;
        goto out;
    }
    struct cursor c = {payload + 16, len - 16};
    uint32_t nsys, napp, body_len;
    if (take32(&c, &nsys) != 0 || take32(&c, &napp) != 0) {
        reason = "property counts cut short";
        rc = RECORD_BAD_LAYOUT;
        goto out;
    }
    if (walk_props(&c, nsys) != 0) {
        reason = "system properties overrun the frame";
        rc = RECORD_BAD_LAYOUT;
        goto out;
    }
    if (walk_props(&c, napp) != 0) {
        reason = "application properties overrun the frame";
        rc = RECORD_BAD_LAYOUT;
        goto out;
    }
    if (take32(&c, &body_len) != 0 || body_len != c.left) {
        reason = "body length disagrees with the frame";
        rc = RECORD_BAD_LAYOUT;
        goto out;
    }
    head->frame_len = EL_FRAME_HEAD + len;
    head->seq = el_get64(payload);
    head->enqueued_ms = (int64_t)el_get64(payload + 8);
    head->system_count = nsys;
    head->app_count = napp;
    head->body_len = body_len;
    rc = RECORD_OK;
out:
    if (why)
        *why = reason;
    return rc;
}

static const uint8_t *parse_props(const uint8_t *p, uint32_t count, struct eventlog_prop *out)
{
    for (uint32_t i = 0; i < count; i++) {
        uint32_t klen = el_get32(p), vlen = el_get32(p + 4);
        p += 8;
        out[i].key = (const char *)p;
        out[i].key_len = klen;
        p += klen;
        out[i].value = (const char *)p;
        out[i].value_len = vlen;
        p += vlen;
    }
    return p;
}

void record_parse(const uint8_t *buf, const struct record_head *head, struct eventlog_prop *props,
                  const uint8_t **body)
{
    const uint8_t *p = buf + EL_FRAME_HEAD + 24;
    if (head->system_count)
        p = parse_props(p, head->system_count, props);
    if (head->app_count)
        p = parse_props(p, head->app_count, props + head->system_count);
    *body = p + 4;
}

/* Adds n to *total, failing when it passes the record limit (checked before adding, so
 * nothing overflows). */
static int add_size(size_t *total, size_t n)
{
    if (n > (size_t)EVENTLOG_RECORD_MAX - *total)
        return -1;
    *total += n;
    return 0;
}

static int props_size(const struct eventlog_prop *props, size_t count, size_t *total)
{
    if (count > 0 && !props)
        return EVENTLOG_ERR_INVALID;
    if (count > (size_t)EVENTLOG_RECORD_MAX / EL_PROP_MIN)
        return EVENTLOG_ERR_TOO_LARGE;
    for (size_t i = 0; i < count; i++) {
        if ((props[i].key_len && !props[i].key) || (props[i].value_len && !props[i].value))
            return EVENTLOG_ERR_INVALID;
        if (add_size(total, EL_PROP_MIN) != 0 || add_size(total, props[i].key_len) != 0 ||
            add_size(total, props[i].value_len) != 0)
            return EVENTLOG_ERR_TOO_LARGE;
    }
    return 0;
}

int record_encoded_size(const struct eventlog_message *msg, size_t *size)
{
    size_t total = EL_FRAME_MIN;
    int rc = props_size(msg->system_props, msg->system_count, &total);
    if (rc != 0)
        return rc;
    rc = props_size(msg->app_props, msg->app_count, &total);
    if (rc != 0)
        return rc;
    if (msg->body_len && !msg->body)
        return EVENTLOG_ERR_INVALID;
    if (add_size(&total, msg->body_len) != 0)
        return EVENTLOG_ERR_TOO_LARGE;
    *size = total;
    return 0;
}

static uint8_t *encode_props(uint8_t *p, const struct eventlog_prop *props, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        el_put32(p, (uint32_t)props[i].key_len);
        el_put32(p + 4, (uint32_t)props[i].value_len);
        p += 8;
        if (props[i].key_len)
            memcpy(p, props[i].key, props[i].key_len);
        p += props[i].key_len;
        if (props[i].value_len)
            memcpy(p, props[i].value, props[i].value_len);
        p += props[i].value_len;
    }
    return p;
}

void record_encode(uint8_t *buf, size_t size, const struct eventlog_message *msg)
{
    el_put32(buf, (uint32_t)(size - EL_FRAME_HEAD));
    memset(buf + 4, 0, 4 + 16);
    el_put32(buf + 24, (uint32_t)msg->system_count);
    el_put32(buf + 28, (uint32_t)msg->app_count);
    uint8_t *p = encode_props(buf + 32, msg->system_props, msg->system_count);
    p = encode_props(p, msg->app_props, msg->app_count);
    el_put32(p, (uint32_t)msg->body_len);
    if (msg->body_len)
        memcpy(p + 4, msg->body, msg->body_len);
}

void record_seal(uint8_t *buf, uint32_t seed, uint64_t seq, int64_t enqueued_ms)
{
    el_put64(buf + 8, seq);
    el_put64(buf + 16, (uint64_t)enqueued_ms);
    el_put32(buf + 4, crc32c(seed, buf + EL_FRAME_HEAD, el_get32(buf)));
}
