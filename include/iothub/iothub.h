/* libiothub: C client library for IoT hubs compatible with Azure IoT Hub (iothubd).
 *
 *   iothub_error.h           error codes (IOTHUB_ERRNO_MAP), iothub_strerror
 *   iothub_message.h         telemetry messages and their properties
 *   iothub_device_client.h   device client (MQTT; threaded and do-work modes)
 *   iothub_service_client.h  registry manager (HTTPS)
 *
 * Reference documentation: docs/libiothub.md. Link with `pkg-config --libs iothub`. */
#ifndef IOTHUB_H
#define IOTHUB_H

#include "iothub_error.h"
#include "iothub_message.h"
#include "iothub_device_client.h"
#include "iothub_service_client.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IOTHUB_VERSION_MAJOR 0
#define IOTHUB_VERSION_MINOR 1
#define IOTHUB_VERSION_PATCH 0

/* "0.1.0": the library's version (may differ from the headers' when linked dynamically). */
const char *iothub_version_string(void);

/* Process-wide initialisation (libcurl, OpenSSL). Optional: each create does it lazily,
 * but call it once from the main thread before creating clients from several threads.
 * Returns 0 or IOTHUB_ESYSTEM. iothub_global_deinit() is optional too, and only valid
 * once every handle is destroyed. Both are not thread-safe. */
int iothub_global_init(void);
void iothub_global_deinit(void);

#ifdef __cplusplus
}
#endif

#endif
