/* Cloud-to-device delivery over MQTT (spec 2.8). Placeholder until the C2D work lands. */
#include "hub/mqtt/conn.h"

int mqtt_handle_puback(struct mqtt_conn *c, uint16_t packet_id)
{
    (void)c;
    (void)packet_id;
    return 0;
}

void mqtt_c2d_resume(struct mqtt_conn *c)
{
    (void)c;
}

void mqtt_c2d_release(struct mqtt_conn *c)
{
    (void)c;
}
