#include "hub/auth/service_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/policy.h"
#include "common/sas.h"
#include "common/strbuf.h"
#include "hub/hub.h"

enum service_auth_result service_auth_check(const struct hub *hub, const char *token,
                                            const char *target_path, unsigned rights, int64_t now,
                                            char *policy_out, size_t policy_cap, char *reason,
                                            size_t reason_cap)
{
    if (!token || !*token) {
        snprintf(reason, reason_cap,
                 "no Authorization header: send a SharedAccessSignature token of a shared "
                 "access policy");
        return SERVICE_AUTH_DENIED;
    }
    /* A token is large: keep it off the network threads' stacks' hot part. */
    struct sas_token *tok = malloc(sizeof(*tok));
    if (!tok) {
        snprintf(reason, reason_cap, "out of memory checking the token");
        return SERVICE_AUTH_DENIED;
    }
    enum service_auth_result result = SERVICE_AUTH_DENIED;
    int perr = sas_parse(token, strlen(token), tok);
    if (perr != SAS_OK) {
        snprintf(reason, reason_cap, "malformed SharedAccessSignature: %s", sas_strerror(perr));
        goto out;
    }
    if (!hub_is_own_host(hub, tok->host)) {
        snprintf(reason, reason_cap, "the token is for host '%.200s', not for this hub (%.200s)",
                 tok->host, hub->hostname);
        goto out;
    }
    if (tok->skn[0] == '\0') {
        snprintf(reason, reason_cap,
                 "the token has no skn: service operations need a shared access policy token");
        goto out;
    }
    struct policy pol;
    if (registry_get_policy(hub->registry, tok->skn, &pol) != REG_OK) {
        snprintf(reason, reason_cap, "no shared access policy named '%.64s'", tok->skn);
        goto out;
    }
    if (!sas_verify(tok, pol.primary_key, false) && !sas_verify(tok, pol.secondary_key, false)) {
        snprintf(reason, reason_cap, "the signature does not match the keys of policy '%s'",
                 pol.name);
        goto out;
    }
    if (tok->expiry <= now) {
        snprintf(reason, reason_cap, "the token expired at %lld (now %lld)", (long long)tok->expiry,
                 (long long)now);
        result = SERVICE_AUTH_EXPIRED;
        goto out;
    }
    if (!sas_path_covers(tok->path, target_path)) {
        snprintf(reason, reason_cap, "the token's resource '%.200s' does not cover '%.200s'",
                 tok->sr, target_path);
        goto out;
    }
    if (!policy_rights_grant(pol.rights, rights)) {
        char have[128], need[128];
        snprintf(reason, reason_cap, "policy '%s' has %s but this operation needs %s", pol.name,
                 policy_rights_format(pol.rights, have, sizeof(have)),
                 policy_rights_format(rights, need, sizeof(need)));
        goto out;
    }
    if (policy_out)
        str_copy(policy_out, policy_cap, pol.name);
    result = SERVICE_AUTH_OK;
out:
    free(tok);
    return result;
}
