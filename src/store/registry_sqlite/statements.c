/* The SQL of every statement the registry runs, prepared once on first use and kept for
 * the life of the connection, plus the transaction helpers built on them. */
#include "internal.h"

static const char *const stmt_sql[RS_STMT_COUNT] = {
    [RS_BEGIN] = "BEGIN IMMEDIATE",
    [RS_COMMIT] = "COMMIT",
    [RS_ROLLBACK] = "ROLLBACK",
    [RS_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [RS_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [RS_DEVICE_INSERT] =
        "INSERT INTO devices (device_id, generation_id, version, enabled, status_reason,"
        " status_updated_ms, auth_type, primary_key, secondary_key, primary_thumbprint,"
        " secondary_thumbprint, iot_edge, device_scope, created_ms, updated_ms)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
    [RS_DEVICE_SELECT] = "SELECT " RS_DEVICE_COLUMNS " FROM devices WHERE device_id = ?1",
    [RS_DEVICE_UPDATE] =
        "UPDATE devices SET version = ?2, enabled = ?3, status_reason = ?4,"
        " status_updated_ms = ?5, auth_type = ?6, primary_key = ?7, secondary_key = ?8,"
        " primary_thumbprint = ?9, secondary_thumbprint = ?10, iot_edge = ?11,"
        " device_scope = ?12, updated_ms = ?13 WHERE device_id = ?1",
    [RS_DEVICE_DELETE] = "DELETE FROM devices WHERE device_id = ?1",
    [RS_DEVICE_LIST] = "SELECT " RS_DEVICE_COLUMNS " FROM devices ORDER BY device_id LIMIT ?1",
    [RS_DEVICE_STATS] = "SELECT COUNT(*), COALESCE(SUM(enabled), 0) FROM devices",
    [RS_DEVICE_SET_CONNECTION] = "UPDATE devices SET connected = ?2,"
                                 " connection_state_updated_ms = ?3 WHERE device_id = ?1",
    [RS_DEVICE_TOUCH] = "UPDATE devices SET last_activity_ms = MAX(last_activity_ms, ?2)"
                        " WHERE device_id = ?1",
    [RS_DEVICE_AUTH_ALL] = "SELECT device_id, generation_id, enabled, auth_type, primary_key,"
                           " secondary_key, primary_thumbprint, secondary_thumbprint"
                           " FROM devices",
    [RS_DEVICE_MAX_GENERATION] =
        "SELECT COALESCE(MAX(CAST(generation_id AS INTEGER)), 0) FROM devices",
    [RS_POLICY_COUNT] = "SELECT COUNT(*) FROM policies",
    [RS_POLICY_INSERT] = "INSERT INTO policies (name, primary_key, secondary_key, rights,"
                         " created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    [RS_POLICY_ALL] =
        "SELECT name, primary_key, secondary_key, rights FROM policies ORDER BY rowid",
    [RS_SETTING_GET] = "SELECT value FROM settings WHERE name = ?1",
    [RS_SETTING_SET] = "INSERT INTO settings (name, value, updated_ms) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                       " updated_ms = excluded.updated_ms",
    [RS_SESSION_GET] = "SELECT subscriptions FROM mqtt_sessions WHERE device_id = ?1",
    [RS_SESSION_SET] = "INSERT INTO mqtt_sessions (device_id, subscriptions, updated_ms)"
                       " VALUES (?1, ?2, ?3) ON CONFLICT (device_id) DO UPDATE SET"
                       " subscriptions = excluded.subscriptions,"
                       " updated_ms = excluded.updated_ms",
    [RS_SESSION_DELETE] = "DELETE FROM mqtt_sessions WHERE device_id = ?1",
    [RS_CONSUMER_GROUP_INSERT] = "INSERT INTO consumer_groups (name, created_ms) VALUES (?1, ?2)",
    [RS_CONSUMER_GROUP_DELETE] = "DELETE FROM consumer_groups WHERE name = ?1",
    [RS_CONSUMER_GROUP_ALL] = "SELECT name FROM consumer_groups ORDER BY name",
    /* twins (twin_store.c) */
    /* cloud-to-device (c2d_store.c) */
};

sqlite3_stmt *rs_stmt(struct registry *reg, enum rs_stmt id)
{
    if (!reg->stmts[id] && sqlite3_prepare_v3(reg->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                              &reg->stmts[id], NULL) != SQLITE_OK) {
        reg->stmts[id] = NULL;
        return NULL;
    }
    return reg->stmts[id];
}

void rs_done(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void rs_finalize_all(struct registry *reg)
{
    for (size_t i = 0; i < RS_STMT_COUNT; i++) {
        sqlite3_finalize(reg->stmts[i]);
        reg->stmts[i] = NULL;
    }
}

int rs_exec(struct registry *reg, enum rs_stmt id)
{
    sqlite3_stmt *st = rs_stmt(reg, id);
    if (!st)
        return -1;
    int rc;
    do
        rc = sqlite3_step(st);
    while (rc == SQLITE_ROW);
    rs_done(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int rs_begin(struct registry *reg)
{
    return rs_exec(reg, RS_BEGIN);
}

int rs_commit(struct registry *reg)
{
    return rs_exec(reg, RS_COMMIT);
}

void rs_rollback(struct registry *reg)
{
    if (!sqlite3_get_autocommit(reg->db))
        rs_exec(reg, RS_ROLLBACK);
}
