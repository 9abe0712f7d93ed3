/* REST handlers, one file per resource family. Each sends exactly one reply. */
#ifndef IOTHUB_HUB_REST_HANDLERS_H
#define IOTHUB_HUB_REST_HANDLERS_H

#include "hub/rest/request.h"

void rest_devices_list(struct rest_request *r);
void rest_device_get(struct rest_request *r);
void rest_device_put(struct rest_request *r);
void rest_device_delete(struct rest_request *r);
void rest_devices_query(struct rest_request *r);
void rest_statistics_devices(struct rest_request *r);
void rest_twin_get(struct rest_request *r);
void rest_twin_patch(struct rest_request *r);
void rest_twin_put(struct rest_request *r);
/* Replies later (when the device answers or a timeout fires), see methods.c. */
void rest_method_invoke(struct rest_request *r);
void rest_consumer_groups_list(struct rest_request *r);
void rest_consumer_group_put(struct rest_request *r);
void rest_consumer_group_delete(struct rest_request *r);

#endif
