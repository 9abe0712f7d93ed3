/* What one AMQP connection may do: the CBS tokens it has put (spec 5.2) and what SASL PLAIN
 * proved. Each grant is a policy's rights over a resource path; a link is authorised when
 * an unexpired grant covers its address (segment prefix, spec 1.6). Owned by the
 * connection, used only on its thread. */
#ifndef IOTHUB_HUB_AMQP_GRANTS_H
#define IOTHUB_HUB_AMQP_GRANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/policy.h"
#include "common/sas.h"

struct hub;

#define AMQP_GRANTS_MAX 128

struct amqp_grant {
    char path[SAS_PATH_MAX]; /* decoded sr without scheme and host; "" covers everything */
    char policy[POLICY_NAME_MAX + 1];
    unsigned rights;   /* enum policy_right bits */
    int64_t expiry_ms; /* 0 = until the connection closes (raw key over SASL PLAIN) */
};

struct amqp_grants {
    struct amqp_grant *v;
    size_t n, cap;
};

void amqp_grants_free(struct amqp_grants *g);

/* Checks a SAS token of a shared access policy (either key encoding, spec 1.4 step 5) and
 * adds its grant, replacing one for the same path. Returns 200, 401 (reason written) or
 * 400 (malformed, reason written). */
int amqp_grants_put_token(struct amqp_grants *g, const struct hub *hub, const char *token,
                          int64_t now_ms, char *reason, size_t reason_cap);

/* SASL PLAIN on the Event Hubs endpoint: policy name and its raw key. 200 or 401. */
int amqp_grants_put_key(struct amqp_grants *g, const struct hub *hub, const char *policy,
                        const char *key, char *reason, size_t reason_cap);

/* True when an unexpired grant with `rights` covers path. */
bool amqp_grants_cover(const struct amqp_grants *g, const char *path, unsigned rights,
                       int64_t now_ms);

/* The earliest expiry still ahead of now_ms, or 0 when none. */
int64_t amqp_grants_next_expiry(const struct amqp_grants *g, int64_t now_ms);

#endif
