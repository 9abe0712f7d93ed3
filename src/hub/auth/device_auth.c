#include "hub/auth/device_auth.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/policy.h"
#include "common/sas.h"
#include "common/strbuf.h"
#include "hub/hub.h"

static const char auth_method_device_sas[] =
    "{\"scope\":\"device\",\"type\":\"sas\",\"issuer\":\"iothub\",\"acceptingIpFilterRule\":null}";
static const char auth_method_hub_sas[] =
    "{\"scope\":\"hub\",\"type\":\"sas\",\"issuer\":\"iothub\",\"acceptingIpFilterRule\":null}";
static const char auth_method_x509[] =
    "{\"scope\":\"device\",\"type\":\"x509Certificate\",\"issuer\":\"iothub\","
    "\"acceptingIpFilterRule\":null}";

static bool load_device(const struct hub *hub, const char *device_id, struct device_auth *dev,
                        char *reason, size_t reason_cap)
{
    if (registry_get_device_auth(hub->registry, device_id, dev) != REG_OK) {
        snprintf(reason, reason_cap, "device '%s' is not registered", device_id);
        return false;
    }
    if (!dev->enabled) {
        snprintf(reason, reason_cap, "device '%s' is disabled", device_id);
        return false;
    }
    return true;
}

bool device_auth_sas(const struct hub *hub, const char *device_id, const char *token,
                     size_t token_len, int64_t now_s, struct device_identity *id, char *reason,
                     size_t reason_cap)
{
    bool ok = false;
    struct sas_token *tok = malloc(sizeof(*tok));
    if (!tok) {
        snprintf(reason, reason_cap, "out of memory checking the token");
        return false;
    }
    int perr = sas_parse(token, token_len, tok);
    if (perr != SAS_OK) {
        snprintf(reason, reason_cap, "malformed SharedAccessSignature: %s", sas_strerror(perr));
        goto out;
    }
    if (!hub_is_own_host(hub, tok->host)) {
        snprintf(reason, reason_cap, "the token is for host '%.200s', not for this hub", tok->host);
        goto out;
    }
    char target[DEVICE_ID_MAX + 16];
    snprintf(target, sizeof(target), "devices/%s", device_id);
    struct device_auth dev;
    if (!load_device(hub, device_id, &dev, reason, reason_cap))
        goto out;
    const char *method;
    if (tok->skn[0] == '\0') {
        /* A device key token names exactly this device. */
        if (strcmp(tok->path, target) != 0) {
            snprintf(reason, reason_cap, "the token is for '%.200s', not for device '%s'",
                     tok->path, device_id);
            goto out;
        }
        if (dev.auth_type != DEVICE_AUTH_SAS || (!sas_verify(tok, dev.primary_key, false) &&
                                                 !sas_verify(tok, dev.secondary_key, false))) {
            snprintf(reason, reason_cap, "the signature does not match the keys of device '%s'",
                     device_id);
            goto out;
        }
        method = auth_method_device_sas;
    } else {
        /* A policy token (token service / gateway pattern): DeviceConnect, covering scope. */
        struct policy pol;
        if (registry_get_policy(hub->registry, tok->skn, &pol) != REG_OK ||
            (!sas_verify(tok, pol.primary_key, false) &&
             !sas_verify(tok, pol.secondary_key, false))) {
            snprintf(reason, reason_cap, "the signature does not match policy '%.64s'", tok->skn);
            goto out;
        }
        if (!policy_rights_grant(pol.rights, RIGHT_DEVICE_CONNECT) ||
            !sas_path_covers(tok->path, target)) {
            snprintf(reason, reason_cap, "policy '%s' does not grant DeviceConnect for device '%s'",
                     pol.name, device_id);
            goto out;
        }
        method = auth_method_hub_sas;
    }
    if (tok->expiry <= now_s) {
        snprintf(reason, reason_cap, "the token expired at %lld (now %lld)", (long long)tok->expiry,
                 (long long)now_s);
        goto out;
    }
    str_copy(id->device_id, sizeof(id->device_id), device_id);
    str_copy(id->generation_id, sizeof(id->generation_id), dev.generation_id);
    id->auth_method = method;
    id->expiry_ms = tok->expiry * 1000;
    ok = true;
out:
    free(tok);
    return ok;
}

/* Hex digest of cert with md, lower-case. */
static void thumbprint(X509 *cert, const EVP_MD *md, char *out, size_t cap)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (!X509_digest(cert, md, digest, &n) || cap < 2 * (size_t)n + 1)
        return;
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

bool device_auth_x509(const struct hub *hub, const char *device_id, X509 *cert,
                      struct device_identity *id, char *reason, size_t reason_cap)
{
    struct device_auth dev;
    if (!cert) {
        snprintf(reason, reason_cap, "no password and no client certificate");
        return false;
    }
    if (!load_device(hub, device_id, &dev, reason, reason_cap))
        return false;
    if (dev.auth_type != DEVICE_AUTH_SELF_SIGNED) {
        snprintf(reason, reason_cap,
                 "device '%s' is not registered for selfSigned X.509 authentication", device_id);
        return false;
    }
    char sha1[41], sha256[65];
    thumbprint(cert, EVP_sha1(), sha1, sizeof(sha1));
    thumbprint(cert, EVP_sha256(), sha256, sizeof(sha256));
    const char *registered[] = {dev.primary_thumbprint, dev.secondary_thumbprint};
    for (size_t i = 0; i < 2; i++) {
        if (!registered[i][0])
            continue;
        if ((sha1[0] && strcasecmp(registered[i], sha1) == 0) ||
            (sha256[0] && strcasecmp(registered[i], sha256) == 0)) {
            str_copy(id->device_id, sizeof(id->device_id), device_id);
            str_copy(id->generation_id, sizeof(id->generation_id), dev.generation_id);
            id->auth_method = auth_method_x509;
            id->expiry_ms = 0;
            return true;
        }
    }
    snprintf(reason, reason_cap, "the client certificate's thumbprint does not match device '%s'",
             device_id);
    return false;
}

bool device_auth_username_ok(const struct hub *hub, const char *username, size_t len,
                             const char *client_id, char *reason, size_t reason_cap)
{
    /* The identity part ends at the first '?'; without one, before the first segment that
     * holds '=' (older C SDKs: "{host}/{id}/api-version=..."). */
    const char *q = memchr(username, '?', len);
    size_t end = q ? (size_t)(q - username) : len;
    if (!q) {
        const char *eq = memchr(username, '=', len);
        if (eq) {
            end = (size_t)(eq - username);
            while (end > 0 && username[end - 1] != '/')
                end--;
        }
    }
    if (end > 0 && username[end - 1] == '/')
        end--;
    const char *slash = memchr(username, '/', end);
    if (!slash) {
        snprintf(reason, reason_cap, "the user name does not name a device");
        return false;
    }
    char host[HUB_NAME_MAX];
    size_t host_len = (size_t)(slash - username);
    const char *colon = memchr(username, ':', host_len);
    if (colon)
        host_len = (size_t)(colon - username); /* HostName with a port */
    if (!str_copy_n(host, sizeof(host), username, host_len) || !hub_is_own_host(hub, host)) {
        snprintf(reason, reason_cap, "the user name names another hub");
        return false;
    }
    size_t id_len = end - (size_t)(slash + 1 - username);
    if (id_len != strlen(client_id) || memcmp(slash + 1, client_id, id_len) != 0) {
        snprintf(reason, reason_cap, "the user name's identity does not match client id '%s'",
                 client_id);
        return false;
    }
    return true;
}
