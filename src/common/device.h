/* The device identity as the registry stores it and the REST API shows it (spec 3.3).
 * A plain value type: fixed-size fields, no pointers, copied freely. */
#ifndef IOTHUB_COMMON_DEVICE_H
#define IOTHUB_COMMON_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEVICE_ID_MAX         128 /* characters, spec 0.3 */
#define DEVICE_KEY_MAX        128 /* base64 text of a symmetric key */
#define DEVICE_THUMBPRINT_MAX 64  /* SHA-256 hex */
#define DEVICE_REASON_MAX     128
#define DEVICE_SCOPE_MAX      256

enum device_auth_type {
    DEVICE_AUTH_SAS = 0,
    DEVICE_AUTH_SELF_SIGNED = 1,
    DEVICE_AUTH_CA = 2,
    DEVICE_AUTH_NONE = 3,
};

struct device {
    char device_id[DEVICE_ID_MAX + 1];
    char generation_id[24];
    char etag[32];
    bool enabled;
    bool has_status_reason; /* statusReason is null when false */
    char status_reason[DEVICE_REASON_MAX + 1];
    int64_t status_updated_ms; /* ms since the epoch; 0 = never */
    enum device_auth_type auth_type;
    char primary_key[DEVICE_KEY_MAX + 1]; /* "" = none */
    char secondary_key[DEVICE_KEY_MAX + 1];
    char primary_thumbprint[DEVICE_THUMBPRINT_MAX + 1]; /* "" = null */
    char secondary_thumbprint[DEVICE_THUMBPRINT_MAX + 1];
    bool connected;
    int64_t connection_state_updated_ms;
    int64_t last_activity_ms;
    int64_t c2d_message_count;
    bool iot_edge;
    char device_scope[DEVICE_SCOPE_MAX + 1]; /* "" = absent */
};

/* Names used on the wire: "sas", "selfSigned", "certificateAuthority", "none". */
const char *device_auth_type_name(enum device_auth_type t);
/* Case-sensitive parse of the names above; returns -1 for anything else. */
int device_auth_type_parse(const char *s);

/* Device-id rules of the hosted service (spec 0.3): 1..128 characters of ASCII
 * alphanumerics and - . + % _ # * ? ! ( ) , = @ $ '. */
bool device_id_valid(const char *id);

/* A symmetric key as accepted at creation: base64 of 16 to 64 bytes. */
bool device_key_valid(const char *key_b64);

/* A thumbprint: 40 (SHA-1) or 64 (SHA-256) hex digits, either case. */
bool device_thumbprint_valid(const char *tp);

#endif
