/* Shared access policies (spec 1.7): the five defaults with random keys, and lookups from
 * the auth cache (names compare case-insensitively). */
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/random.h"
#include "common/strbuf.h"
#include "internal.h"

static const struct {
    const char *name;
    unsigned rights;
} default_policies[] = {
    {"iothubowner",
     RIGHT_REGISTRY_READ | RIGHT_REGISTRY_WRITE | RIGHT_SERVICE_CONNECT | RIGHT_DEVICE_CONNECT},
    {"service", RIGHT_SERVICE_CONNECT},
    {"device", RIGHT_DEVICE_CONNECT},
    {"registryRead", RIGHT_REGISTRY_READ},
    {"registryReadWrite", RIGHT_REGISTRY_READ | RIGHT_REGISTRY_WRITE},
};

#define DEFAULT_COUNT (sizeof(default_policies) / sizeof(default_policies[0]))

int registry_get_policy(struct registry *reg, const char *name, struct policy *out)
{
    if (!name || !out)
        return REG_INVALID;
    return auth_cache_get_policy(&reg->cache, name, out) ? REG_OK : REG_NOT_FOUND;
}

int registry_list_policies(struct registry *reg, struct policy **out, size_t *count)
{
    if (!out || !count)
        return REG_INVALID;
    return auth_cache_copy_policies(&reg->cache, out, count) == 0 ? REG_OK : REG_STORAGE;
}

/* The default set with fresh keys; NULL when out of memory or randomness. */
static struct policy *make_defaults(void)
{
    struct policy *list = calloc(DEFAULT_COUNT, sizeof(*list));
    if (!list)
        return NULL;
    for (size_t i = 0; i < DEFAULT_COUNT; i++) {
        char primary[45], secondary[45];
        if (random_key_b64(primary) != 0 || random_key_b64(secondary) != 0) {
            explicit_bzero(list, DEFAULT_COUNT * sizeof(*list));
            free(list);
            return NULL;
        }
        str_copy(list[i].name, sizeof(list[i].name), default_policies[i].name);
        str_copy(list[i].primary_key, sizeof(list[i].primary_key), primary);
        str_copy(list[i].secondary_key, sizeof(list[i].secondary_key), secondary);
        list[i].rights = default_policies[i].rights;
        explicit_bzero(primary, sizeof(primary));
        explicit_bzero(secondary, sizeof(secondary));
    }
    return list;
}

static int insert_policy(struct registry *reg, const struct policy *p, int64_t now)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_POLICY_INSERT);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->primary_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->secondary_key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, (int)p->rights);
    sqlite3_bind_int64(st, 5, now);
    int step = sqlite3_step(st);
    rs_done(st);
    return step == SQLITE_DONE ? 0 : -1;
}

int registry_ensure_default_policies(struct registry *reg)
{
    struct policy *list = make_defaults();
    int rc = REG_OK;
    if (!list)
        return REG_STORAGE;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0)
        goto fail;
    sqlite3_stmt *st = rs_stmt(reg, RS_POLICY_COUNT);
    if (!st)
        goto fail;
    int step = sqlite3_step(st);
    int64_t existing = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    rs_done(st);
    if (step != SQLITE_ROW)
        goto fail;
    if (existing > 0) {
        rs_rollback(reg);
        goto unlock;
    }
    int64_t now = time_now_ms();
    for (size_t i = 0; i < DEFAULT_COUNT; i++)
        if (insert_policy(reg, &list[i], now) != 0)
            goto fail;
    if (rs_commit(reg) != 0)
        goto fail;
    auth_cache_set_policies(&reg->cache, list, DEFAULT_COUNT);
    list = NULL;
    goto unlock;
fail:
    rc = rs_fail(reg, "create default policies");
unlock:
    pthread_mutex_unlock(&reg->lock);
    if (list)
        explicit_bzero(list, DEFAULT_COUNT * sizeof(*list));
    free(list);
    return rc;
}
