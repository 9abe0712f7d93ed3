/* SUBSCRIBE and UNSUBSCRIBE of the device's own hub topics (spec 2.6). Filters the device
 * may not take get 0x80 for that entry; the connection stays up. Clean-session-0 sessions
 * are stored so that subscriptions survive reconnects and restarts. */
#include <stdio.h>

#include "common/log.h"
#include "hub/hub.h"
#include "hub/mqtt/conn.h"
#include "hub/mqtt/endpoint.h"
#include "hub/mqtt/topics.h"

#define SUBACK_MAX_ENTRIES 64

static void store_session(struct mqtt_conn *c, uint32_t before)
{
    if (c->clean_session || c->subscriptions == before)
        return;
    if (registry_set_session(c->mt->ep->hub->registry, c->id.device_id, c->subscriptions) != REG_OK)
        log_warn("cannot store the mqtt session; subscriptions may not survive a reconnect",
                 "device=%s", c->id.device_id);
}

int mqtt_handle_subscribe(struct mqtt_conn *c, const struct mqtt_list *p)
{
    if (p->count > SUBACK_MAX_ENTRIES) {
        mqtt_conn_close(c, "SUBSCRIBE with too many filters");
        return -1;
    }
    uint8_t codes[SUBACK_MAX_ENTRIES];
    size_t pos = 0, n = 0;
    struct mqtt_str filter;
    uint8_t qos;
    uint32_t before = c->subscriptions;
    while (mqtt_subscribe_next(p, &pos, &filter, &qos)) {
        uint32_t sub = topic_subscription_of(filter.ptr, filter.len, c->id.device_id);
        if (sub) {
            uint8_t max = topic_subscription_max_qos(sub);
            codes[n] = qos < max ? qos : max;
            c->subscriptions |= sub;
            if (sub == SUB_C2D && codes[n] == 0)
                c->subscriptions |= SUB_C2D_QOS0;
            else if (sub == SUB_C2D)
                c->subscriptions &= ~SUB_C2D_QOS0;
            n++;
        } else {
            codes[n++] = 0x80;
            log_info("mqtt subscription refused", "device=%s filter=\"%.*s\"", c->id.device_id,
                     (int)(filter.len > 200 ? 200 : filter.len), filter.ptr);
        }
    }
    uint8_t out[4 + 2 + SUBACK_MAX_ENTRIES];
    mqtt_conn_send(c, out, mqtt_encode_suback(out, sizeof(out), p->packet_id, codes, n));
    store_session(c, before);
    if ((c->subscriptions & SUB_C2D) && !(before & SUB_C2D))
        mqtt_c2d_resume(c);
    if ((c->subscriptions & SUB_TWIN_DESIRED) && !(before & SUB_TWIN_DESIRED))
        mqtt_twin_resume(c);
    if ((c->subscriptions & SUB_METHODS) && !(before & SUB_METHODS))
        mqtt_methods_device_ready(c);
    return 0;
}

int mqtt_handle_unsubscribe(struct mqtt_conn *c, const struct mqtt_list *p)
{
    size_t pos = 0;
    struct mqtt_str filter;
    uint32_t before = c->subscriptions;
    while (mqtt_unsubscribe_next(p, &pos, &filter)) {
        uint32_t sub = topic_subscription_of(filter.ptr, filter.len, c->id.device_id);
        c->subscriptions &= ~(sub == SUB_C2D ? SUB_C2D | SUB_C2D_QOS0 : sub);
    }
    uint8_t out[4];
    mqtt_conn_send(c, out, mqtt_encode_ack(out, sizeof(out), MQTT_UNSUBACK, p->packet_id));
    store_session(c, before);
    return 0;
}
