/* Authorisation of service requests: a SAS token of a shared access policy (spec 1.4-1.7).
 * A device-key token never grants service permissions. */
#ifndef IOTHUB_HUB_AUTH_SERVICE_AUTH_H
#define IOTHUB_HUB_AUTH_SERVICE_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct hub;

enum service_auth_result {
    SERVICE_AUTH_OK = 0,
    SERVICE_AUTH_DENIED = 1,  /* missing, malformed, bad signature, wrong host or rights */
    SERVICE_AUTH_EXPIRED = 2, /* a valid token whose se has passed */
};

/* Checks `token` (the whole Authorization header value) for an operation on `target_path`
 * (e.g. "devices/d1", no leading '/') that needs `rights` (enum policy_right bits), at
 * time `now` (seconds). On refusal writes a reason (no secrets) to reason. On success
 * copies the policy name into policy_out when not NULL. */
enum service_auth_result service_auth_check(const struct hub *hub, const char *token,
                                            const char *target_path, unsigned rights, int64_t now,
                                            char *policy_out, size_t policy_cap, char *reason,
                                            size_t reason_cap);

#endif
