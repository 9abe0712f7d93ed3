/* Waking a device's MQTT connection when cloud-to-device messages were queued for it
 * (src/hub/mqtt/handle_c2d.c). */
#ifndef IOTHUB_HUB_MQTT_C2D_H
#define IOTHUB_HUB_MQTT_C2D_H

struct hub;

/* From any thread, after the message is committed: the device's live connection (if any)
 * delivers what is queued, on its own thread. */
void mqtt_c2d_notify(struct hub *hub, const char *device_id);

#endif
