#include "mqtt/frame.h"

#include "mqtt/mqtt.h"

int mqtt_frame_size(const uint8_t *buf, size_t len, size_t max_packet, size_t *total)
{
    if (len < 1)
        return MQTT_INCOMPLETE;
    uint8_t type = buf[0] >> 4;
    if (type == 0 || type == 15)
        return MQTT_ERR_TYPE;
    size_t remaining = 0;
    for (size_t i = 1; i < MQTT_FIXED_HEADER_MAX; i++) {
        if (i >= len)
            return MQTT_INCOMPLETE;
        remaining |= (size_t)(buf[i] & 0x7f) << (7 * (i - 1));
        if (!(buf[i] & 0x80)) {
            size_t whole = i + 1 + remaining;
            if (whole > max_packet)
                return MQTT_ERR_TOO_LARGE;
            *total = whole;
            return 1;
        }
    }
    return MQTT_ERR_REMAINING_LENGTH;
}
