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
    [RS_TWIN_SELECT] =
        "SELECT d.created_ms, t.tags, t.desired, t.desired_metadata, t.desired_version,"
        " t.reported, t.reported_metadata, t.reported_version, t.version, t.etag,"
        " t.desired_delivered, t.model_id"
        " FROM devices d LEFT JOIN twins t ON t.device_id = d.device_id"
        " WHERE d.device_id = ?1",
    [RS_TWIN_UPSERT] =
        "INSERT INTO twins (device_id, tags, desired, desired_metadata, desired_version,"
        " reported, reported_metadata, reported_version, version, etag, desired_delivered,"
        " updated_ms, model_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        " ON CONFLICT (device_id) DO UPDATE SET tags = excluded.tags,"
        " desired = excluded.desired, desired_metadata = excluded.desired_metadata,"
        " desired_version = excluded.desired_version, reported = excluded.reported,"
        " reported_metadata = excluded.reported_metadata,"
        " reported_version = excluded.reported_version, version = excluded.version,"
        " etag = excluded.etag, desired_delivered = excluded.desired_delivered,"
        " updated_ms = excluded.updated_ms, model_id = excluded.model_id",
    /* cloud-to-device (c2d_store.c) */
    [RS_C2D_DEVICE_EXISTS] = "SELECT 1 FROM devices WHERE device_id = ?1",
    [RS_C2D_COUNT] = "SELECT COUNT(*) FROM c2d_messages WHERE device_id = ?1 AND expiry_ms > ?2",
    [RS_C2D_INSERT] =
        "INSERT INTO c2d_messages (device_id, message_id, correlation_id, user_id, content_type,"
        " content_encoding, ack, expiry_given, enqueued_ms, expiry_ms, app_properties, body)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [RS_C2D_DUE_DEVICE] = "SELECT seq, ack, expiry_ms FROM c2d_messages WHERE device_id = ?1"
                          " AND lock_epoch != ?2 AND (expiry_ms <= ?3 OR delivery_count >= ?4)"
                          " ORDER BY seq LIMIT ?5",
    /* ?1 (the device) is not used: the parameters are numbered as in RS_C2D_DUE_DEVICE. */
    [RS_C2D_DUE_ALL] = "SELECT seq, ack, expiry_ms FROM c2d_messages WHERE lock_epoch != ?2"
                       " AND (expiry_ms <= ?3 OR delivery_count >= ?4) ORDER BY seq LIMIT ?5",
    [RS_C2D_NEXT] =
        "SELECT seq, message_id, correlation_id, user_id, content_type, content_encoding, ack,"
        " expiry_given, enqueued_ms, expiry_ms, delivery_count, app_properties, body"
        " FROM c2d_messages WHERE device_id = ?1 AND lock_epoch != ?2 AND expiry_ms > ?3"
        " AND delivery_count < ?4 ORDER BY seq LIMIT ?5",
    [RS_C2D_LOCK] = "UPDATE c2d_messages SET lock_epoch = ?2, delivery_count = delivery_count + 1"
                    " WHERE seq = ?1",
    [RS_C2D_UNLOCK] = "UPDATE c2d_messages SET lock_epoch = 0 WHERE seq = ?1 AND lock_epoch = ?2",
    [RS_C2D_STATE] = "SELECT ack, delivery_count FROM c2d_messages WHERE seq = ?1",
    [RS_C2D_DELETE] = "DELETE FROM c2d_messages WHERE seq = ?1",
    [RS_C2D_NEXT_EXPIRY] = "SELECT COALESCE(MIN(expiry_ms), 0) FROM c2d_messages"
                           " WHERE ack IN (2, 3) AND lock_epoch != ?1",
    [RS_C2D_FEEDBACK_FROM_MESSAGE] =
        "INSERT INTO c2d_feedback (original_message_id, device_id, device_generation_id,"
        " status, enqueued_ms, created_ms, expiry_ms) SELECT COALESCE(m.message_id, ''),"
        " m.device_id, COALESCE(d.generation_id, ''), ?2, ?3, ?4, ?5 FROM c2d_messages m"
        " LEFT JOIN devices d ON d.device_id = m.device_id WHERE m.seq = ?1",
    [RS_C2D_FEEDBACK_PURGE] = "DELETE FROM c2d_feedback WHERE (expiry_ms <= ?1"
                              " OR delivery_count >= ?2)"
                              " AND NOT (lock_epoch = ?3 AND locked_until_ms > ?1)",
    [RS_C2D_FEEDBACK_WAITING] = "SELECT COUNT(*), COALESCE(MIN(created_ms), 0) FROM c2d_feedback"
                                " WHERE lock_epoch != ?1 OR locked_until_ms <= ?2",
    [RS_C2D_FEEDBACK_SELECT] =
        "SELECT id, original_message_id, device_id, device_generation_id, status, enqueued_ms"
        " FROM c2d_feedback WHERE lock_epoch != ?1 OR locked_until_ms <= ?2 ORDER BY id"
        " LIMIT ?3",
    [RS_C2D_FEEDBACK_LOCK] = "UPDATE c2d_feedback SET lock_epoch = ?2, locked_until_ms = ?3,"
                             " delivery_count = delivery_count + 1 WHERE id = ?1",
    [RS_C2D_FEEDBACK_UNLOCK] =
        "UPDATE c2d_feedback SET lock_epoch = 0, locked_until_ms = 0 WHERE id = ?1",
    [RS_C2D_FEEDBACK_DELETE] = "DELETE FROM c2d_feedback WHERE id = ?1",
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
