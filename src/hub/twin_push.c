/* Desired-property notifications (twin_push.h). The REST handler that changed desired
 * posts a mail carrying a copy of the notification to the thread that owns the device's
 * connection; the mail checks the subscription there (it is only read on that thread).
 * Live notifications are not recorded (see twin_store_desired_catch_up). */
#include "hub/twin_push.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hub/hub.h"
#include "hub/mqtt/conn.h"
#include "hub/mqtt/endpoint.h"
#include "hub/mqtt/topics.h"
#include "hub/net/threads.h"

/* One notification in a mail: malloc'ed by twin_push_desired, freed by push_mail. */
struct push {
    int64_t version;
    size_t len;
    char body[];
};

void twin_push_send(struct mqtt_conn *c, int64_t version, const char *body, size_t len)
{
    char topic[80];
    int tlen = snprintf(topic, sizeof(topic),
                        "$iothub/twin/PATCH/properties/desired/?$version=%" PRId64, version);
    struct mqtt_publish p = {
        .qos = 0, /* min(granted, 0): twin traffic is QoS 0 (spec 2.6) */
        .topic = {topic, (size_t)tlen},
        .payload = (const uint8_t *)body,
        .payload_len = len,
    };
    size_t cap = len + (size_t)tlen + 16;
    uint8_t *buf = malloc(cap);
    size_t n = buf ? mqtt_encode_publish(buf, cap, &p) : 0;
    if (n == 0)
        log_error("cannot send a desired-property notification: out of memory",
                  "device=%s version=%" PRId64, c->id.device_id, version);
    else
        mqtt_conn_send(c, buf, n);
    free(buf);
}

/* On the connection's thread. */
static void push_mail(void *obj, uint64_t arg1, int64_t arg2)
{
    (void)arg2;
    struct mqtt_conn *c = obj;
    struct push *p = (struct push *)(uintptr_t)arg1;
    if (c->state == CONN_ACTIVE && (c->subscriptions & SUB_TWIN_DESIRED))
        twin_push_send(c, p->version, p->body, p->len);
    free(p);
    mqtt_conn_unref(c);
}

void twin_push_desired(struct hub *hub, const char *device_id, int64_t version, const json_t *body)
{
    if (!hub->mqtt)
        return;
    struct mqtt_conn *c = device_map_get(&hub->mqtt->devices, device_id);
    if (!c)
        return; /* offline: a persistent session catches up when it comes back */
    size_t len = json_dumpb(body, NULL, 0, JSON_COMPACT);
    struct push *p = len ? malloc(sizeof(*p) + len) : NULL;
    if (!p || json_dumpb(body, p->body, len, JSON_COMPACT) != len) {
        log_error("cannot notify a device of a desired change: out of memory",
                  "device=%s version=%" PRId64, device_id, version);
        free(p);
        mqtt_conn_unref(c);
        return;
    }
    p->version = version;
    p->len = len;
    struct mail m = {push_mail, c, (uint64_t)(uintptr_t)p, 0};
    if (mailbox_post(&c->mt->thread->mailbox, &m) != 0) {
        log_error("cannot notify a device of a desired change: out of memory",
                  "device=%s version=%" PRId64, device_id, version);
        free(p);
        mqtt_conn_unref(c);
    }
}
