/* Desired-property notifications to devices over MQTT (spec 2.10): published QoS 0 on
 * $iothub/twin/PATCH/properties/desired/?$version={v} to a device that holds the desired
 * subscription. A persistent-session device that was away when desired changed gets one
 * notification with the whole desired document when it comes back (mqtt_twin_resume in
 * handle_twin.c, built on twin_push_send and twin_store_desired_catch_up). */
#ifndef IOTHUB_HUB_TWIN_PUSH_H
#define IOTHUB_HUB_TWIN_PUSH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct hub;
struct mqtt_conn;

/* From any thread, after desired $version `version` was committed: hands body (borrowed;
 * the change plus "$version") to the device's live connection, if any, through its
 * thread's mailbox. Offline devices get nothing now (see mqtt_twin_resume). */
void twin_push_desired(struct hub *hub, const char *device_id, int64_t version, const json_t *body);

/* On c's thread: publishes one desired notification of `version` with body. */
void twin_push_send(struct mqtt_conn *c, int64_t version, const char *body, size_t len);

#endif
