/* Query parameters of the MQTT user name (spec 2.2): `{host}/{deviceId}/?api-version=...
 * [&model-id=...]&DeviceClientType=...`, or without the '?' as older C SDKs send it. The
 * identity part is checked by device_auth_username_ok(); this reads what follows it. */
#ifndef IOTHUB_HUB_MQTT_USERNAME_H
#define IOTHUB_HUB_MQTT_USERNAME_H

#include <stddef.h>

/* Longest model id kept (a DTMI is at most 4096 characters). */
#define MQTT_MODEL_ID_MAX 4096

/* The IoT Plug and Play model id (`model-id`), percent-decoded: the C SDK encodes it, the
 * Node SDK does not, and decoding a plain DTMI leaves it as it is. Returns 1 with a
 * malloc'ed, NUL-terminated *out (the caller frees it), 0 when the user name has none (or
 * an empty one), -1 when the value is not valid percent-encoding or is longer than
 * MQTT_MODEL_ID_MAX, or on out of memory. */
int mqtt_username_model_id(const char *username, size_t len, char **out);

#endif
