/* Connection state and last activity. These change often and are not acknowledged to
 * anyone, so they are committed with synchronous=NORMAL (WAL keeps them consistent; a
 * power cut may lose the newest) and the caller batches them. They do not change the
 * etag, the auth cache or the listener. */
#include "internal.h"

/* Expects reg->lock held. On failure the caller reports it and restores FULL. */
static int write_relaxed_begin(struct registry *reg)
{
    return rs_exec(reg, RS_SYNC_NORMAL) == 0 && rs_begin(reg) == 0 ? 0 : -1;
}

static int write_relaxed_commit(struct registry *reg)
{
    int rc = rs_commit(reg);
    if (rc != 0)
        rs_fail(reg, "commit activity");
    rs_exec(reg, RS_SYNC_FULL);
    return rc == 0 ? REG_OK : REG_STORAGE;
}

int registry_set_connection_state(struct registry *reg, const char *device_id, bool connected,
                                  int64_t when_ms)
{
    int rc;
    if (!device_id)
        return REG_INVALID;
    pthread_mutex_lock(&reg->lock);
    if (write_relaxed_begin(reg) != 0)
        goto fail;
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_SET_CONNECTION);
    if (!st)
        goto fail;
    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, connected ? 1 : 0);
    sqlite3_bind_int64(st, 3, when_ms);
    int step = sqlite3_step(st);
    rs_done(st);
    if (step != SQLITE_DONE)
        goto fail;
    if (sqlite3_changes(reg->db) == 0) {
        rs_rollback(reg);
        rs_exec(reg, RS_SYNC_FULL);
        rc = REG_NOT_FOUND;
        goto unlock;
    }
    rc = write_relaxed_commit(reg);
    goto unlock;
fail:
    rc = rs_fail(reg, "set connection state");
    rs_exec(reg, RS_SYNC_FULL);
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int registry_touch_activity(struct registry *reg, const char *const *device_ids, size_t count,
                            int64_t when_ms)
{
    int rc;
    if (count == 0)
        return REG_OK;
    if (!device_ids)
        return REG_INVALID;
    pthread_mutex_lock(&reg->lock);
    if (write_relaxed_begin(reg) != 0)
        goto fail;
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_TOUCH);
    if (!st)
        goto fail;
    for (size_t i = 0; i < count; i++) {
        if (!device_ids[i])
            continue;
        sqlite3_bind_text(st, 1, device_ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, when_ms);
        int step = sqlite3_step(st);
        rs_done(st);
        if (step != SQLITE_DONE)
            goto fail;
    }
    rc = write_relaxed_commit(reg);
    goto unlock;
fail:
    rc = rs_fail(reg, "touch activity");
    rs_exec(reg, RS_SYNC_FULL);
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}
