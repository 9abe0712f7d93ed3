/* Device identity JSON (spec 3.3), with jansson. Shared by the REST API (both directions)
 * and the clients (parsing the hub's answers). */
#ifndef IOTHUB_COMMON_DEVICE_JSON_H
#define IOTHUB_COMMON_DEVICE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "device.h"

/* The full response shape, every member present (deviceScope only when non-empty). Returns
 * a new reference, or NULL on allocation failure or when a string member is not UTF-8. */
json_t *device_to_json(const struct device *dev);

/* What a create or update request asks for. Only writable members are taken; read-only
 * members (generationId, etag, connectionState, timestamps, cloudToDeviceMessageCount)
 * are ignored whatever their type (Node sends them back, in other cases and types). */
struct device_request {
    struct device dev;      /* device_id, enabled, status reason, auth, iot_edge, scope */
    bool has_status;        /* "status" was given */
    bool has_auth;          /* "authentication" was given */
    bool has_capabilities;  /* "capabilities" was given */
    bool has_status_reason; /* "statusReason" was given (null counts) */
    bool has_device_scope;
};

/* Parses a request body. Returns 0, or on error -1 (ArgumentInvalid: a member is wrong)
 * or -2 (IotHubFormatError: the body is not JSON at all), and writes the JSON path of the
 * bad member (e.g. "authentication.symmetricKey.primaryKey") or "body" to bad_field, and a
 * human reason without ';' (and without any value from the body) to reason. null counts as
 * absent for every writable member except statusReason (null = no reason). Checks: valid
 * JSON object, deviceId a valid id when present, status "enabled"/"disabled" (any case),
 * statusReason <= 128 chars, auth type known, keys valid base64 (16..64 bytes) or empty,
 * thumbprints hex. Keys may be empty ("" = generate on create, keep on update). */
int device_request_parse(const char *body, size_t len, struct device_request *out, char *bad_field,
                         size_t bad_cap, char *reason, size_t reason_cap);

/* The client side: parses the hub's device JSON into dev. Returns 0 or -1. */
int device_from_json(const json_t *obj, struct device *dev);

#endif
