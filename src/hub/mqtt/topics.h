/* The IoT Hub topic space of one device (spec 2.6): what it may publish to and which hub
 * subscriptions it may take. Device ids in topics are raw, never percent-encoded. */
#ifndef IOTHUB_HUB_MQTT_TOPICS_H
#define IOTHUB_HUB_MQTT_TOPICS_H

#include <stddef.h>
#include <stdint.h>

/* The hub subscriptions a device can hold, as stored in its persistent session. */
enum mqtt_subscription {
    SUB_C2D = 1u << 0,            /* devices/{d}/messages/devicebound/# */
    SUB_METHODS = 1u << 1,        /* $iothub/methods/POST/# */
    SUB_TWIN_RESPONSES = 1u << 2, /* $iothub/twin/res/# */
    SUB_TWIN_DESIRED = 1u << 3,   /* $iothub/twin/PATCH/properties/desired/# */
    SUB_C2D_QOS0 = 1u << 4,       /* with SUB_C2D: granted QoS 0 (complete when written) */
};

/* The subscription a filter names for this device, or 0 when the device may not take it. */
uint32_t topic_subscription_of(const char *filter, size_t len, const char *device_id);

/* The highest QoS the hub grants for a subscription. */
uint8_t topic_subscription_max_qos(uint32_t sub);

enum publish_kind {
    PUBLISH_TELEMETRY = 1,       /* devices/{d}/messages/events[/{bag}] */
    PUBLISH_TWIN = 2,            /* $iothub/twin/... (served by the twin issue) */
    PUBLISH_METHOD_RESPONSE = 3, /* $iothub/methods/res/... (served by the methods issue) */
    PUBLISH_FORBIDDEN = 0,       /* anything else: another device's topic, unknown topics */
};

/* Classifies a PUBLISH topic. For telemetry, *bag and *bag_len give the property bag (may be
 * empty; one trailing '/' already removed). */
enum publish_kind topic_classify_publish(const char *topic, size_t len, const char *device_id,
                                         const char **bag, size_t *bag_len);

#endif
