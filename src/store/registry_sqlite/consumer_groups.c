/* Consumer groups of the Event Hubs-compatible endpoint (spec 5.4): "$Default", which
 * always exists and is never stored, plus the groups made through the REST extension,
 * kept in the consumer_groups table (migration 003) and mirrored in the auth cache so that
 * a receiver's attach looks its group up without touching the disk.
 *
 * Names compare case-insensitively; the spelling given at creation is the one reported.
 * The cached list is ordered case-insensitively, as registry_consumer_group_list reports
 * it. Writers hold reg->lock, so the cached list cannot change between building the next
 * list and publishing it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/isotime.h"
#include "common/strbuf.h"
#include "internal.h"

#define DEFAULT_GROUP "$Default"

typedef char group_name[CONSUMER_GROUP_NAME_MAX + 1];

/* 1..50 of [A-Za-z0-9._-]; "$Default" is handled by the callers. */
static bool name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > CONSUMER_GROUP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool is_default(const char *name)
{
    return name && strcasecmp(name, DEFAULT_GROUP) == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcasecmp((const char *)a, (const char *)b);
}

void auth_cache_set_groups(struct auth_cache *c, group_name *list, size_t n)
{
    pthread_rwlock_wrlock(&c->lock);
    group_name *old = c->groups;
    c->groups = list;
    c->ngroups = n;
    pthread_rwlock_unlock(&c->lock);
    free(old);
}

/* Index of name in the cached list, or -1. Expects the cache lock held (either mode). */
static long find_group(const struct auth_cache *c, const char *name)
{
    if (c->ngroups == 0)
        return -1;
    const group_name *hit = bsearch(name, c->groups, c->ngroups, sizeof(group_name), compare_names);
    return hit ? (long)(hit - c->groups) : -1;
}

/* The cached list with name added (insert) or the entry at index `drop` removed, as a new
 * malloc'ed array in *out (NULL when empty). Expects reg->lock held. -1 when out of
 * memory. */
static int next_list(struct registry *reg, const char *insert, long drop, group_name **out,
                     size_t *n_out)
{
    struct auth_cache *c = &reg->cache;
    *out = NULL;
    *n_out = 0;
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->ngroups + (insert ? 1 : 0) - (drop >= 0 ? 1 : 0);
    group_name *list = n ? calloc(n, sizeof(group_name)) : NULL;
    if (n && !list) {
        pthread_rwlock_unlock(&c->lock);
        return -1;
    }
    size_t j = 0;
    bool placed = insert == NULL;
    for (size_t i = 0; i < c->ngroups; i++) {
        if ((long)i == drop)
            continue;
        if (!placed && strcasecmp(insert, c->groups[i]) < 0) {
            str_copy(list[j++], sizeof(group_name), insert);
            placed = true;
        }
        memcpy(list[j++], c->groups[i], sizeof(group_name));
    }
    if (!placed)
        str_copy(list[j++], sizeof(group_name), insert);
    pthread_rwlock_unlock(&c->lock);
    *out = list;
    *n_out = n;
    return 0;
}

int registry_consumer_group_create(struct registry *reg, const char *name)
{
    if (is_default(name))
        return REG_EXISTS;
    if (!name_valid(name))
        return REG_INVALID;
    group_name *list = NULL;
    size_t n = 0;
    int rc = REG_OK;
    pthread_mutex_lock(&reg->lock);
    pthread_rwlock_rdlock(&reg->cache.lock);
    bool exists = find_group(&reg->cache, name) >= 0;
    pthread_rwlock_unlock(&reg->cache.lock);
    if (exists) {
        rc = REG_EXISTS;
        goto unlock;
    }
    if (next_list(reg, name, -1, &list, &n) != 0) {
        rc = REG_STORAGE;
        goto unlock;
    }
    sqlite3_stmt *st = rs_stmt(reg, RS_CONSUMER_GROUP_INSERT);
    if (!st) {
        rc = rs_fail(reg, "create consumer group");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, time_now_ms());
    int step = sqlite3_step(st);
    int code = sqlite3_extended_errcode(reg->db);
    rs_done(st);
    if (step != SQLITE_DONE) {
        /* The cache and the table agree, so this is only a safety net. */
        rc = code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE
                 ? REG_EXISTS
                 : rs_fail(reg, "create consumer group");
        goto unlock;
    }
    auth_cache_set_groups(&reg->cache, list, n);
    list = NULL;
unlock:
    pthread_mutex_unlock(&reg->lock);
    free(list);
    return rc;
}

int registry_consumer_group_delete(struct registry *reg, const char *name)
{
    if (is_default(name) || !name_valid(name))
        return REG_INVALID;
    group_name *list = NULL;
    size_t n = 0;
    int rc = REG_OK;
    pthread_mutex_lock(&reg->lock);
    pthread_rwlock_rdlock(&reg->cache.lock);
    long at = find_group(&reg->cache, name);
    pthread_rwlock_unlock(&reg->cache.lock);
    if (at < 0) {
        rc = REG_NOT_FOUND;
        goto unlock;
    }
    if (next_list(reg, NULL, at, &list, &n) != 0) {
        rc = REG_STORAGE;
        goto unlock;
    }
    sqlite3_stmt *st = rs_stmt(reg, RS_CONSUMER_GROUP_DELETE);
    if (!st) {
        rc = rs_fail(reg, "delete consumer group");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    rs_done(st);
    if (step != SQLITE_DONE) {
        rc = rs_fail(reg, "delete consumer group");
        goto unlock;
    }
    /* Even when no row went (cannot happen while the cache mirrors the table), the cache
     * now agrees with the table. */
    auth_cache_set_groups(&reg->cache, list, n);
    list = NULL;
unlock:
    pthread_mutex_unlock(&reg->lock);
    free(list);
    return rc;
}

int registry_consumer_group_get(struct registry *reg, const char *name, char *canonical, size_t cap)
{
    if (!name)
        return REG_INVALID;
    if (is_default(name)) {
        if (canonical && !str_copy(canonical, cap, DEFAULT_GROUP))
            return REG_INVALID;
        return REG_OK;
    }
    if (!name_valid(name))
        return REG_NOT_FOUND;
    int rc = REG_NOT_FOUND;
    pthread_rwlock_rdlock(&reg->cache.lock);
    long at = find_group(&reg->cache, name);
    if (at >= 0) {
        rc = REG_OK;
        if (canonical && !str_copy(canonical, cap, reg->cache.groups[at]))
            rc = REG_INVALID;
    }
    pthread_rwlock_unlock(&reg->cache.lock);
    return rc;
}

int registry_consumer_group_list(struct registry *reg, group_name **out, size_t *count)
{
    if (!out || !count)
        return REG_INVALID;
    *out = NULL;
    *count = 0;
    pthread_rwlock_rdlock(&reg->cache.lock);
    size_t n = reg->cache.ngroups + 1;
    group_name *list = malloc(n * sizeof(group_name));
    if (list) {
        memset(list, 0, n * sizeof(group_name));
        str_copy(list[0], sizeof(group_name), DEFAULT_GROUP);
        if (reg->cache.ngroups)
            memcpy(list + 1, reg->cache.groups, reg->cache.ngroups * sizeof(group_name));
    }
    pthread_rwlock_unlock(&reg->cache.lock);
    if (!list)
        return REG_STORAGE;
    *out = list;
    *count = n;
    return REG_OK;
}

int rs_load_consumer_groups(struct registry *reg)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_CONSUMER_GROUP_ALL);
    group_name *list = NULL;
    size_t n = 0, cap = 0;
    int rc = -1, step;
    if (!st)
        return -1;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        /* A row this build would not accept (edited by hand) is skipped, not fatal. */
        if (!name_valid(name) || is_default(name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            group_name *grown = realloc(list, ncap * sizeof(group_name));
            if (!grown)
                goto out;
            list = grown;
            cap = ncap;
        }
        memset(list[n], 0, sizeof(group_name));
        str_copy(list[n++], sizeof(group_name), name);
    }
    if (step != SQLITE_DONE)
        goto out;
    if (n > 1)
        qsort(list, n, sizeof(group_name), compare_names);
    if (n == 0) {
        free(list);
        list = NULL;
    }
    auth_cache_set_groups(&reg->cache, list, n);
    list = NULL;
    rc = 0;
out:
    free(list);
    rs_done(st);
    return rc;
}
