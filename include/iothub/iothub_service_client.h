/* libiothub service client: the identity registry of a hub over HTTPS (libcurl).
 *
 * Ownership: a registry manager handle is created by iothub_registry_manager_create() and
 * belongs to the caller, who destroys it exactly once. iothub_device_t is a plain value
 * (fixed-size fields, no pointers) that the caller owns and may copy freely; the library
 * fills caller-provided ones. iothub_registry_manager_list_devices() returns an array the
 * library allocated, which the caller releases with iothub_device_list_free().
 *
 * Thread safety: a registry manager serves one request at a time; calls on the same handle
 * from several threads are serialised by an internal lock. Different handles are
 * independent. Every call blocks until the hub answers (at most "timeout" seconds, default
 * 30). Call iothub_global_init() (iothub.h) once before creating handles from several
 * threads (it initialises libcurl).
 *
 * Errors: 0 on success or a negative IOTHUB_E* code. HTTP failures map as: 400
 * IOTHUB_EINVAL, 401 IOTHUB_EAUTH, 404 IOTHUB_ENOTFOUND, 409 IOTHUB_EEXIST, 412
 * IOTHUB_EPRECONDITION, 413 IOTHUB_ETOOBIG, 429 IOTHUB_ETHROTTLED, other IOTHUB_ESERVER;
 * transport failures IOTHUB_ENETWORK, IOTHUB_ETLS or IOTHUB_ETIMEDOUT. The hub's error
 * code and message (never a key) are available from iothub_registry_manager_last_error(). */
#ifndef IOTHUB_SERVICE_CLIENT_H
#define IOTHUB_SERVICE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iothub_registry_manager_s iothub_registry_manager_t;

#define IOTHUB_DEVICE_ID_SIZE         129 /* 128 characters + NUL */
#define IOTHUB_DEVICE_KEY_SIZE        129
#define IOTHUB_DEVICE_THUMBPRINT_SIZE 65
#define IOTHUB_DEVICE_REASON_SIZE     129
#define IOTHUB_TIME_SIZE              32 /* "2026-11-26T06:09:01.123Z" */

/* The C SDK's IOTHUB_REGISTRYMANAGER_AUTH_METHOD, same order. */
typedef enum {
    IOTHUB_AUTH_SHARED_PRIVATE_KEY = 0,         /* "sas" */
    IOTHUB_AUTH_X509_THUMBPRINT = 1,            /* "selfSigned" */
    IOTHUB_AUTH_X509_CERTIFICATE_AUTHORITY = 2, /* "certificateAuthority" */
    IOTHUB_AUTH_NONE = 3,                       /* "none" */
} iothub_auth_method_t;

typedef enum {
    IOTHUB_DEVICE_CONNECTION_STATE_DISCONNECTED = 0,
    IOTHUB_DEVICE_CONNECTION_STATE_CONNECTED = 1,
} iothub_device_connection_state_t;

typedef enum {
    IOTHUB_DEVICE_STATUS_ENABLED = 0,
    IOTHUB_DEVICE_STATUS_DISABLED = 1,
} iothub_device_status_t;

/* A device identity as the hub returns it. Times are the hub's ISO 8601 UTC text
 * ("0001-01-01T00:00:00Z" = never). For X.509 devices primary_key/secondary_key are empty
 * and the thumbprints are set. status_reason is "" when the hub has none (null). */
typedef struct iothub_device {
    char device_id[IOTHUB_DEVICE_ID_SIZE];
    char primary_key[IOTHUB_DEVICE_KEY_SIZE];
    char secondary_key[IOTHUB_DEVICE_KEY_SIZE];
    char primary_thumbprint[IOTHUB_DEVICE_THUMBPRINT_SIZE];
    char secondary_thumbprint[IOTHUB_DEVICE_THUMBPRINT_SIZE];
    char generation_id[32];
    char etag[48];
    iothub_device_connection_state_t connection_state;
    iothub_device_status_t status;
    char status_reason[IOTHUB_DEVICE_REASON_SIZE];
    char connection_state_updated_time[IOTHUB_TIME_SIZE];
    char status_updated_time[IOTHUB_TIME_SIZE];
    char last_activity_time[IOTHUB_TIME_SIZE];
    uint64_t cloud_to_device_message_count;
    iothub_auth_method_t auth_method;
    bool is_managed; /* always false (the C SDK's field; device management is gone) */
    bool iot_edge;
} iothub_device_t;

/* What create_device sends. For IOTHUB_AUTH_SHARED_PRIVATE_KEY the keys are base64 keys,
 * and empty strings (or NULL) ask the hub to generate them; for X509_THUMBPRINT they are
 * the certificates' thumbprints (hex); for the other methods they are ignored. */
typedef struct iothub_device_create {
    const char *device_id;
    const char *primary_key;
    const char *secondary_key;
    iothub_auth_method_t auth_method;
    iothub_device_status_t status; /* ENABLED by default (0) */
    bool iot_edge;
} iothub_device_create_t;

typedef struct iothub_registry_statistics {
    uint64_t total_device_count;
    uint64_t enabled_device_count;
    uint64_t disabled_device_count;
} iothub_registry_statistics_t;

/* From the hub connection string HostName=..;SharedAccessKeyName=..;SharedAccessKey=..
 * (a policy with RegistryRead/RegistryWrite, e.g. iothubowner). Returns 0, IOTHUB_ECONNSTR,
 * IOTHUB_EKEY, IOTHUB_EINVAL or IOTHUB_ENOMEM. No network I/O happens here. */
int iothub_registry_manager_create(iothub_registry_manager_t **out, const char *connection_string);

/* NULL is a no-op. */
void iothub_registry_manager_destroy(iothub_registry_manager_t *rm);

/* Options: "TrustedCerts" (PEM text, copied; default: the system store), "timeout"
 * (seconds per request, default 30), "port" (HTTPS port, default 443), "logtrace" (0/1:
 * request lines and statuses on stderr, never tokens). */
int iothub_registry_manager_set_option_string(iothub_registry_manager_t *rm, const char *name,
                                              const char *value);
int iothub_registry_manager_set_option_int(iothub_registry_manager_t *rm, const char *name,
                                           int64_t value);

/* PUT /devices/{id} without If-Match. Fills *out (may be NULL) with the created device. */
int iothub_registry_manager_create_device(iothub_registry_manager_t *rm,
                                          const iothub_device_create_t *req, iothub_device_t *out);

/* GET /devices/{id}. */
int iothub_registry_manager_get_device(iothub_registry_manager_t *rm, const char *device_id,
                                       iothub_device_t *out);

/* PUT /devices/{id} with If-Match: dev->etag (or "*" when empty). Sends dev's status,
 * status_reason, auth_method and keys or thumbprints (empty keys: kept by the hub) and
 * iot_edge. Fills *out (may be NULL, may equal dev) with the updated device. */
int iothub_registry_manager_update_device(iothub_registry_manager_t *rm, const iothub_device_t *dev,
                                          iothub_device_t *out);

/* DELETE /devices/{id} (If-Match: "*"). */
int iothub_registry_manager_delete_device(iothub_registry_manager_t *rm, const char *device_id);

/* GET /devices?top=max (max 1..1000; 0 means 1000). *devices is a new array of *count
 * devices (NULL when 0), released with iothub_device_list_free(). */
int iothub_registry_manager_list_devices(iothub_registry_manager_t *rm, size_t max,
                                         iothub_device_t **devices, size_t *count);
void iothub_device_list_free(iothub_device_t *devices);

/* GET /statistics/devices. */
int iothub_registry_manager_get_statistics(iothub_registry_manager_t *rm,
                                           iothub_registry_statistics_t *out);

/* The last failed request's hub error code ("DeviceAlreadyExists") and HTTP status, ""
 * and 0 when the last request succeeded or failed before any answer. The string is owned
 * by rm and valid until its next request. */
const char *iothub_registry_manager_last_error(iothub_registry_manager_t *rm, int *http_status);

/* Names as the Python SDK prints them: "SHARED_PRIVATE_KEY", "CONNECTED", "ENABLED"... */
const char *iothub_auth_method_name(iothub_auth_method_t m);
const char *iothub_device_connection_state_name(iothub_device_connection_state_t s);
const char *iothub_device_status_name(iothub_device_status_t s);

#ifdef __cplusplus
}
#endif

#endif
