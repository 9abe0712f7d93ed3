/* Messages for enum mqtt_error, for logs. */
#include "mqtt/mqtt.h"

const char *mqtt_strerror(int err)
{
    switch (err) {
    case MQTT_INCOMPLETE:
        return "incomplete packet";
    case MQTT_ERR_MALFORMED:
        return "malformed packet";
    case MQTT_ERR_RESERVED_FLAGS:
        return "reserved fixed-header flags set";
    case MQTT_ERR_REMAINING_LENGTH:
        return "remaining length over 4 bytes";
    case MQTT_ERR_TOO_LARGE:
        return "packet too large";
    case MQTT_ERR_UTF8:
        return "ill-formed UTF-8 or U+0000 in a string";
    case MQTT_ERR_PROTOCOL_NAME:
        return "protocol name is not MQTT";
    case MQTT_ERR_PROTOCOL_LEVEL:
        return "unsupported protocol level";
    case MQTT_ERR_PACKET_ID:
        return "packet id 0";
    case MQTT_ERR_QOS:
        return "invalid QoS";
    case MQTT_ERR_TOPIC:
        return "invalid topic name or filter";
    case MQTT_ERR_TYPE:
        return "reserved packet type";
    default:
        return err > 0 ? "ok" : "unknown MQTT error";
    }
}
