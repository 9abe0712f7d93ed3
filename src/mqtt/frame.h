/* The size of the next MQTT packet from its fixed header alone, so that a reader can wait
 * for a whole packet without copying partial ones. */
#ifndef IOTHUB_MQTT_FRAME_H
#define IOTHUB_MQTT_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* The largest fixed header: one type byte and four length bytes. */
#define MQTT_FIXED_HEADER_MAX 5

/* Returns 1 and the whole packet's size in *total, MQTT_INCOMPLETE (0) when buf does not
 * yet hold the whole fixed header, or MQTT_ERR_REMAINING_LENGTH / MQTT_ERR_TOO_LARGE /
 * MQTT_ERR_TYPE. */
int mqtt_frame_size(const uint8_t *buf, size_t len, size_t max_packet, size_t *total);

#endif
