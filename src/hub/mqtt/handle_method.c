/* Direct methods over MQTT (spec 2.9). Placeholder until the methods work lands. */
#include "hub/mqtt/conn.h"

int mqtt_handle_method_response(struct mqtt_conn *c, const struct mqtt_publish *p)
{
    return p->qos == 1 ? mqtt_conn_ack_in_order(c, p->packet_id) : 0;
}

void mqtt_methods_release(struct mqtt_conn *c)
{
    (void)c;
}
