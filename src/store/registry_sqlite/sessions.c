/* MQTT persistent sessions: the hub subscriptions of clean-session-0 devices. Written on
 * SUBSCRIBE/UNSUBSCRIBE and at CONNECT, never on the message path. */
#include "common/isotime.h"
#include "internal.h"

int registry_get_session(struct registry *reg, const char *device_id, uint32_t *subscriptions,
                         bool *exists)
{
    int rc = REG_OK;
    *subscriptions = 0;
    *exists = false;
    pthread_mutex_lock(&reg->lock);
    sqlite3_stmt *st = rs_stmt(reg, RS_SESSION_GET);
    if (!st) {
        rc = rs_fail(reg, "get mqtt session");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *subscriptions = (uint32_t)sqlite3_column_int64(st, 0);
        *exists = true;
    }
    rs_done(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = rs_fail(reg, "get mqtt session");
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

static int run_session_statement(struct registry *reg, enum rs_stmt id, const char *device_id,
                                 uint32_t subscriptions, const char *what)
{
    int rc = REG_OK;
    pthread_mutex_lock(&reg->lock);
    sqlite3_stmt *st = rs_stmt(reg, id);
    if (!st) {
        rc = rs_fail(reg, what);
        goto unlock;
    }
    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
    if (id == RS_SESSION_SET) {
        sqlite3_bind_int64(st, 2, subscriptions);
        sqlite3_bind_int64(st, 3, time_now_ms());
    }
    int step = sqlite3_step(st);
    rs_done(st);
    if (step != SQLITE_DONE)
        rc = rs_fail(reg, what);
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int registry_set_session(struct registry *reg, const char *device_id, uint32_t subscriptions)
{
    return run_session_statement(reg, RS_SESSION_SET, device_id, subscriptions,
                                 "store mqtt session");
}

int registry_delete_session(struct registry *reg, const char *device_id)
{
    return run_session_statement(reg, RS_SESSION_DELETE, device_id, 0, "delete mqtt session");
}
