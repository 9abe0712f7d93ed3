/* The in-memory copy of what authentication needs: every device's enabled flag, auth type,
 * keys, thumbprints and generationId in a chained hash table, plus all policies. Loaded at
 * open and updated after every committed write, so lookups never touch the disk.
 * Entries are one allocation each; their memory is wiped before it is freed (keys). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strbuf.h"
#include "internal.h"

#define INITIAL_BUCKETS 64

struct auth_entry {
    struct auth_entry *next;
    uint64_t hash;
    bool enabled;
    enum device_auth_type auth_type;
    size_t data_len;
    /* Offsets into data of the NUL-terminated strings; device_id is at 0. */
    size_t generation_id, primary_key, secondary_key, primary_thumbprint, secondary_thumbprint;
    char data[];
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static void put_string(struct auth_entry *e, size_t *at, size_t *field, const char *s)
{
    size_t n = strlen(s) + 1;
    *field = *at;
    memcpy(e->data + *at, s, n);
    *at += n;
}

struct auth_entry *auth_entry_new(const struct device_auth *a)
{
    size_t len = strlen(a->device_id) + strlen(a->generation_id) + strlen(a->primary_key) +
                 strlen(a->secondary_key) + strlen(a->primary_thumbprint) +
                 strlen(a->secondary_thumbprint) + 6;
    struct auth_entry *e = malloc(sizeof(*e) + len);
    if (!e)
        return NULL;
    memset(e, 0, sizeof(*e));
    size_t at = 0, id_at;
    put_string(e, &at, &id_at, a->device_id);
    put_string(e, &at, &e->generation_id, a->generation_id);
    put_string(e, &at, &e->primary_key, a->primary_key);
    put_string(e, &at, &e->secondary_key, a->secondary_key);
    put_string(e, &at, &e->primary_thumbprint, a->primary_thumbprint);
    put_string(e, &at, &e->secondary_thumbprint, a->secondary_thumbprint);
    e->data_len = len;
    e->hash = hash_id(a->device_id);
    e->enabled = a->enabled;
    e->auth_type = a->auth_type;
    return e;
}

void auth_entry_free(struct auth_entry *e)
{
    if (!e)
        return;
    explicit_bzero(e, sizeof(*e) + e->data_len);
    free(e);
}

int auth_cache_init(struct auth_cache *c)
{
    memset(c, 0, sizeof(*c));
    c->buckets = calloc(INITIAL_BUCKETS, sizeof(*c->buckets));
    if (!c->buckets)
        return -1;
    c->nbuckets = INITIAL_BUCKETS;
    /* Lookups come from every network thread all the time; glibc's default rwlock would
     * let them starve the writer that publishes a committed change. */
    pthread_rwlockattr_t attr;
    int rc = pthread_rwlockattr_init(&attr);
    if (rc == 0) {
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        rc = pthread_rwlock_init(&c->lock, &attr);
        pthread_rwlockattr_destroy(&attr);
    }
    if (rc != 0) {
        free(c->buckets);
        c->buckets = NULL;
        return -1;
    }
    return 0;
}

void auth_cache_free(struct auth_cache *c)
{
    if (!c->buckets)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct auth_entry *e = c->buckets[i];
        while (e) {
            struct auth_entry *next = e->next;
            auth_entry_free(e);
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = NULL;
    if (c->policies)
        explicit_bzero(c->policies, c->npolicies * sizeof(*c->policies));
    free(c->policies);
    c->policies = NULL;
    free(c->groups);
    c->groups = NULL;
    c->ngroups = 0;
    pthread_rwlock_destroy(&c->lock);
}

/* Doubles the table when it is fuller than one entry per bucket; on allocation failure
 * the table simply stays as it is (chains get longer, nothing is lost). */
static void maybe_grow(struct auth_cache *c)
{
    if (c->count <= c->nbuckets)
        return;
    size_t n = c->nbuckets * 2;
    struct auth_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct auth_entry *e = c->buckets[i];
        while (e) {
            struct auth_entry *next = e->next;
            size_t slot = (size_t)(e->hash & (n - 1));
            e->next = b[slot];
            b[slot] = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

static struct auth_entry **find_slot(struct auth_cache *c, const char *device_id, uint64_t h)
{
    struct auth_entry **pp = &c->buckets[h & (c->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->data, device_id) != 0))
        pp = &(*pp)->next;
    return pp;
}

void auth_cache_put(struct auth_cache *c, struct auth_entry *e)
{
    pthread_rwlock_wrlock(&c->lock);
    struct auth_entry **pp = find_slot(c, e->data, e->hash);
    struct auth_entry *old = *pp;
    if (old) {
        e->next = old->next;
        *pp = e;
    } else {
        e->next = NULL;
        *pp = e;
        c->count++;
        maybe_grow(c);
    }
    pthread_rwlock_unlock(&c->lock);
    auth_entry_free(old);
}

void auth_cache_remove(struct auth_cache *c, const char *device_id)
{
    pthread_rwlock_wrlock(&c->lock);
    struct auth_entry **pp = find_slot(c, device_id, hash_id(device_id));
    struct auth_entry *old = *pp;
    if (old) {
        *pp = old->next;
        c->count--;
    }
    pthread_rwlock_unlock(&c->lock);
    auth_entry_free(old);
}

bool auth_cache_get(struct auth_cache *c, const char *device_id, struct device_auth *out)
{
    bool found = false;
    pthread_rwlock_rdlock(&c->lock);
    struct auth_entry *e = *find_slot(c, device_id, hash_id(device_id));
    if (e) {
        memset(out, 0, sizeof(*out));
        str_copy(out->device_id, sizeof(out->device_id), e->data);
        str_copy(out->generation_id, sizeof(out->generation_id), e->data + e->generation_id);
        out->enabled = e->enabled;
        out->auth_type = e->auth_type;
        str_copy(out->primary_key, sizeof(out->primary_key), e->data + e->primary_key);
        str_copy(out->secondary_key, sizeof(out->secondary_key), e->data + e->secondary_key);
        str_copy(out->primary_thumbprint, sizeof(out->primary_thumbprint),
                 e->data + e->primary_thumbprint);
        str_copy(out->secondary_thumbprint, sizeof(out->secondary_thumbprint),
                 e->data + e->secondary_thumbprint);
        found = true;
    }
    pthread_rwlock_unlock(&c->lock);
    return found;
}

void auth_cache_set_policies(struct auth_cache *c, struct policy *list, size_t n)
{
    pthread_rwlock_wrlock(&c->lock);
    struct policy *old = c->policies;
    size_t nold = c->npolicies;
    c->policies = list;
    c->npolicies = n;
    pthread_rwlock_unlock(&c->lock);
    if (old)
        explicit_bzero(old, nold * sizeof(*old));
    free(old);
}

bool auth_cache_get_policy(struct auth_cache *c, const char *name, struct policy *out)
{
    bool found = false;
    pthread_rwlock_rdlock(&c->lock);
    for (size_t i = 0; i < c->npolicies; i++) {
        if (strcasecmp(c->policies[i].name, name) == 0) {
            *out = c->policies[i];
            found = true;
            break;
        }
    }
    pthread_rwlock_unlock(&c->lock);
    return found;
}

int auth_cache_copy_policies(struct auth_cache *c, struct policy **out, size_t *n)
{
    int rc = 0;
    *out = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&c->lock);
    if (c->npolicies > 0) {
        *out = malloc(c->npolicies * sizeof(**out));
        if (*out) {
            memcpy(*out, c->policies, c->npolicies * sizeof(**out));
            *n = c->npolicies;
        } else {
            rc = -1;
        }
    }
    pthread_rwlock_unlock(&c->lock);
    return rc;
}
