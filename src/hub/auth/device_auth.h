/* Authentication of devices (every device transport): a SAS token signed with the device's
 * key or with a policy that has DeviceConnect, or an X.509 client certificate whose
 * thumbprint the device registered. */
#ifndef IOTHUB_HUB_AUTH_DEVICE_AUTH_H
#define IOTHUB_HUB_AUTH_DEVICE_AUTH_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/device.h"

struct hub;

/* What the hub learns about an authenticated device. */
struct device_identity {
    char device_id[DEVICE_ID_MAX + 1];
    char generation_id[24];
    /* The iothub-connection-auth-method stamped on its messages (spec 2.7). */
    const char *auth_method;
    int64_t expiry_ms; /* when the token expires and the connection must end; 0 = never */
};

/* Checks a SAS token (password of MQTT CONNECT, Authorization of device HTTPS) for
 * device_id at time now_s. Returns true and fills *id, or false with a reason (no secrets). */
bool device_auth_sas(const struct hub *hub, const char *device_id, const char *token,
                     size_t token_len, int64_t now_s, struct device_identity *id, char *reason,
                     size_t reason_cap);

/* Checks a TLS client certificate against a selfSigned device's registered thumbprints
 * (SHA-1 or SHA-256, hex, any case). */
bool device_auth_x509(const struct hub *hub, const char *device_id, X509 *cert,
                      struct device_identity *id, char *reason, size_t reason_cap);

/* The MQTT user name: `{host}/{clientId}/?api-version=...&...` and the variants of spec
 * 2.2. True when the host is one of the hub's names and the identity part equals
 * client_id. */
bool device_auth_username_ok(const struct hub *hub, const char *username, size_t len,
                             const char *client_id, char *reason, size_t reason_cap);

#endif
