/* Fills the auth cache from the database at open: every device's auth data, every policy,
 * every consumer group (rs_load_consumer_groups, consumer_groups.c) and the highest
 * generationId issued so far. Runs before the registry is shared. */
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "internal.h"

static const char *column_text(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return s ? s : "";
}

static int load_devices(struct registry *reg)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_AUTH_ALL);
    struct device_auth a;
    int rc = -1, step;
    if (!st)
        return -1;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&a, 0, sizeof(a));
        str_copy(a.device_id, sizeof(a.device_id), column_text(st, 0));
        str_copy(a.generation_id, sizeof(a.generation_id), column_text(st, 1));
        a.enabled = sqlite3_column_int(st, 2) != 0;
        int type = device_auth_type_parse(column_text(st, 3));
        a.auth_type = type < 0 ? DEVICE_AUTH_NONE : (enum device_auth_type)type;
        str_copy(a.primary_key, sizeof(a.primary_key), column_text(st, 4));
        str_copy(a.secondary_key, sizeof(a.secondary_key), column_text(st, 5));
        str_copy(a.primary_thumbprint, sizeof(a.primary_thumbprint), column_text(st, 6));
        str_copy(a.secondary_thumbprint, sizeof(a.secondary_thumbprint), column_text(st, 7));
        struct auth_entry *e = auth_entry_new(&a);
        if (!e)
            goto out;
        auth_cache_put(&reg->cache, e);
    }
    if (step == SQLITE_DONE)
        rc = 0;
out:
    explicit_bzero(&a, sizeof(a));
    rs_done(st);
    return rc;
}

static int load_policies(struct registry *reg)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_POLICY_ALL);
    struct policy *list = NULL;
    size_t n = 0, cap = 0;
    int rc = -1, step;
    if (!st)
        return -1;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct policy *grown = realloc(list, ncap * sizeof(*list));
            if (!grown)
                goto out;
            list = grown;
            cap = ncap;
        }
        struct policy *p = &list[n++];
        memset(p, 0, sizeof(*p));
        str_copy(p->name, sizeof(p->name), column_text(st, 0));
        str_copy(p->primary_key, sizeof(p->primary_key), column_text(st, 1));
        str_copy(p->secondary_key, sizeof(p->secondary_key), column_text(st, 2));
        p->rights = (unsigned)sqlite3_column_int(st, 3);
    }
    if (step != SQLITE_DONE)
        goto out;
    auth_cache_set_policies(&reg->cache, list, n);
    list = NULL;
    rc = 0;
out:
    if (list)
        explicit_bzero(list, cap * sizeof(*list));
    free(list);
    rs_done(st);
    return rc;
}

static int load_last_generation(struct registry *reg)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_MAX_GENERATION);
    int rc = -1;
    if (!st)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        reg->last_generation = sqlite3_column_int64(st, 0);
        rc = 0;
    }
    rs_done(st);
    return rc;
}

int rs_load_cache(struct registry *reg)
{
    if (load_devices(reg) != 0 || load_policies(reg) != 0 || load_last_generation(reg) != 0 ||
        rs_load_consumer_groups(reg) != 0)
        return -1;
    return 0;
}
