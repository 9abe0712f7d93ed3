/* Hub-wide settings: a small key/value table (e.g. "hostname"). */
#include <string.h>

#include "common/isotime.h"
#include "common/strbuf.h"
#include "internal.h"

int registry_get_setting(struct registry *reg, const char *name, char *value, size_t cap)
{
    int rc = REG_OK;
    if (!name || !name[0] || !value || cap == 0)
        return REG_INVALID;
    value[0] = '\0';
    pthread_mutex_lock(&reg->lock);
    sqlite3_stmt *st = rs_stmt(reg, RS_SETTING_GET);
    if (!st) {
        rc = rs_fail(reg, "get setting");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v && !str_copy(value, cap, v)) {
            value[0] = '\0';
            rc = REG_INVALID; /* the caller's buffer is too small */
        }
    }
    rs_done(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = rs_fail(reg, "get setting");
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int registry_set_setting(struct registry *reg, const char *name, const char *value)
{
    int rc = REG_OK;
    if (!name || !name[0] || !value)
        return REG_INVALID;
    pthread_mutex_lock(&reg->lock);
    sqlite3_stmt *st = rs_stmt(reg, RS_SETTING_SET);
    if (!st) {
        rc = rs_fail(reg, "set setting");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, time_now_ms());
    int step = sqlite3_step(st);
    rs_done(st);
    if (step != SQLITE_DONE)
        rc = rs_fail(reg, "set setting");
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}
