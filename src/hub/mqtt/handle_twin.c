/* Device twin requests over MQTT (spec 2.10). Placeholder until the twin work lands: QoS 1
 * requests are acknowledged, nothing is answered. */
#include "hub/mqtt/conn.h"

int mqtt_handle_twin(struct mqtt_conn *c, const struct mqtt_publish *p)
{
    return p->qos == 1 ? mqtt_conn_ack_in_order(c, p->packet_id) : 0;
}
