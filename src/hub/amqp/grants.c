#include "hub/amqp/grants.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "hub/hub.h"
#include "store/registry.h"

void amqp_grants_free(struct amqp_grants *g)
{
    free(g->v);
    memset(g, 0, sizeof(*g));
}

static int add(struct amqp_grants *g, const struct amqp_grant *grant, char *reason,
               size_t reason_cap)
{
    for (size_t i = 0; i < g->n; i++) {
        if (strcmp(g->v[i].path, grant->path) == 0) {
            g->v[i] = *grant;
            return 200;
        }
    }
    if (g->n == AMQP_GRANTS_MAX) {
        snprintf(reason, reason_cap,
                 "more than %d token audiences on one connection: reuse audiences or open "
                 "another connection",
                 AMQP_GRANTS_MAX);
        return 400;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        struct amqp_grant *v = realloc(g->v, cap * sizeof(*v));
        if (!v) {
            snprintf(reason, reason_cap, "out of memory storing the token");
            return 400;
        }
        g->v = v;
        g->cap = cap;
    }
    g->v[g->n++] = *grant;
    return 200;
}

static int check_rights(const struct policy *pol, char *reason, size_t reason_cap)
{
    if (policy_rights_grant(pol->rights, RIGHT_SERVICE_CONNECT))
        return 200;
    char have[128];
    snprintf(reason, reason_cap,
             "policy '%s' has %s, but reading events needs ServiceConnect: use a policy such "
             "as iothubowner or service",
             pol->name, policy_rights_format(pol->rights, have, sizeof(have)));
    return 401;
}

int amqp_grants_put_token(struct amqp_grants *g, const struct hub *hub, const char *token,
                          int64_t now_ms, char *reason, size_t reason_cap)
{
    struct sas_token *tok = malloc(sizeof(*tok));
    if (!tok) {
        snprintf(reason, reason_cap, "out of memory checking the token");
        return 400;
    }
    int status = 401;
    int perr = sas_parse(token, strlen(token), tok);
    if (perr != SAS_OK) {
        snprintf(reason, reason_cap, "malformed SharedAccessSignature: %s", sas_strerror(perr));
        status = 400;
        goto out;
    }
    if (!hub_is_own_host(hub, tok->host)) {
        snprintf(reason, reason_cap, "the token is for host '%.200s', not for this hub (%.200s)",
                 tok->host, hub->hostname);
        goto out;
    }
    if (!tok->skn[0]) {
        snprintf(reason, reason_cap,
                 "the token has no skn: this endpoint needs a token of a shared access policy "
                 "(device AMQP is not served yet)");
        goto out;
    }
    struct policy pol;
    if (registry_get_policy(hub->registry, tok->skn, &pol) != REG_OK) {
        snprintf(reason, reason_cap, "no shared access policy named '%.64s'", tok->skn);
        goto out;
    }
    /* Event Hubs clients sign with the key text, IoT clients with the decoded key. */
    if (!sas_verify(tok, pol.primary_key, true) && !sas_verify(tok, pol.secondary_key, true)) {
        snprintf(reason, reason_cap, "the signature does not match the keys of policy '%s'",
                 pol.name);
        goto out;
    }
    if (tok->expiry * 1000 <= now_ms) {
        snprintf(reason, reason_cap, "the token expired at %lld (now %lld): put a new one",
                 (long long)tok->expiry, (long long)(now_ms / 1000));
        goto out;
    }
    if ((status = check_rights(&pol, reason, reason_cap)) != 200)
        goto out;
    struct amqp_grant grant = {.rights = pol.rights, .expiry_ms = tok->expiry * 1000};
    str_copy(grant.path, sizeof(grant.path), tok->path);
    str_copy(grant.policy, sizeof(grant.policy), pol.name);
    status = add(g, &grant, reason, reason_cap);
out:
    OPENSSL_cleanse(tok, sizeof(*tok));
    free(tok);
    return status;
}

static bool same_key(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && la > 0 && CRYPTO_memcmp(a, b, la) == 0;
}

int amqp_grants_put_key(struct amqp_grants *g, const struct hub *hub, const char *policy,
                        const char *key, char *reason, size_t reason_cap)
{
    struct policy pol;
    if (registry_get_policy(hub->registry, policy, &pol) != REG_OK) {
        snprintf(reason, reason_cap, "no shared access policy named '%.64s'", policy);
        return 401;
    }
    bool ok = same_key(key, pol.primary_key) || same_key(key, pol.secondary_key);
    OPENSSL_cleanse(&pol.primary_key, sizeof(pol.primary_key));
    OPENSSL_cleanse(&pol.secondary_key, sizeof(pol.secondary_key));
    if (!ok) {
        snprintf(reason, reason_cap, "the key is not a key of policy '%s'", pol.name);
        return 401;
    }
    int status = check_rights(&pol, reason, reason_cap);
    if (status != 200)
        return status;
    struct amqp_grant grant = {.rights = pol.rights};
    str_copy(grant.policy, sizeof(grant.policy), pol.name);
    return add(g, &grant, reason, reason_cap);
}

bool amqp_grants_cover(const struct amqp_grants *g, const char *path, unsigned rights,
                       int64_t now_ms)
{
    for (size_t i = 0; i < g->n; i++) {
        const struct amqp_grant *gr = &g->v[i];
        if (gr->expiry_ms && gr->expiry_ms <= now_ms)
            continue;
        if (policy_rights_grant(gr->rights, rights) && sas_path_covers(gr->path, path))
            return true;
    }
    return false;
}

int64_t amqp_grants_next_expiry(const struct amqp_grants *g, int64_t now_ms)
{
    int64_t next = 0;
    for (size_t i = 0; i < g->n; i++) {
        int64_t e = g->v[i].expiry_ms;
        if (e > now_ms && (next == 0 || e < next))
            next = e;
    }
    return next;
}
