/* The registry schema as an ordered list of migrations. A migration, once released, is
 * never edited: later changes append 002, 003, ... Each runs in its own transaction and is
 * recorded in schema_migrations (see migrate.c). */
#include "internal.h"

static const char migration_001[] =
    /* Device identities (spec 3.3). version is the per-device counter behind the etag;
     * auth_type holds the wire name ("sas", "selfSigned", ...). status_reason NULL = null. */
    "CREATE TABLE devices ("
    " device_id TEXT NOT NULL PRIMARY KEY,"
    " generation_id TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " enabled INTEGER NOT NULL,"
    " status_reason TEXT,"
    " status_updated_ms INTEGER NOT NULL DEFAULT 0,"
    " auth_type TEXT NOT NULL,"
    " primary_key TEXT NOT NULL DEFAULT '',"
    " secondary_key TEXT NOT NULL DEFAULT '',"
    " primary_thumbprint TEXT NOT NULL DEFAULT '',"
    " secondary_thumbprint TEXT NOT NULL DEFAULT '',"
    " connected INTEGER NOT NULL DEFAULT 0,"
    " connection_state_updated_ms INTEGER NOT NULL DEFAULT 0,"
    " last_activity_ms INTEGER NOT NULL DEFAULT 0,"
    " iot_edge INTEGER NOT NULL DEFAULT 0,"
    " device_scope TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL"
    ");"
    /* Shared access policies (spec 1.7); names compare case-insensitively. */
    "CREATE TABLE policies ("
    " name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,"
    " primary_key TEXT NOT NULL,"
    " secondary_key TEXT NOT NULL,"
    " rights INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL"
    ");"
    /* Hub-wide settings remembered across restarts (e.g. the host name). */
    "CREATE TABLE settings ("
    " name TEXT NOT NULL PRIMARY KEY,"
    " value TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL"
    ");";

static const char migration_002[] =
    /* MQTT persistent sessions (clean session 0): which hub topics the device subscribed to,
     * as a bit set (enum mqtt_subscription in src/hub/mqtt/topics.h), so that subscriptions
     * survive reconnects and restarts. A device's session goes with the device. */
    "CREATE TABLE mqtt_sessions ("
    " device_id TEXT NOT NULL PRIMARY KEY,"
    " subscriptions INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL"
    ");"
    "CREATE TRIGGER devices_delete_mqtt_session AFTER DELETE ON devices BEGIN"
    " DELETE FROM mqtt_sessions WHERE device_id = OLD.device_id;"
    " END;";

static const char migration_003[] =
    /* Consumer groups of the Event Hubs-compatible endpoint (spec 5.4). "$Default" always
     * exists and is not stored; names compare case-insensitively, the spelling given at
     * creation is kept. */
    "CREATE TABLE consumer_groups ("
    " name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,"
    " created_ms INTEGER NOT NULL"
    ");";

const struct rs_migration rs_migrations[] = {
    {1, "devices, policies, settings", migration_001},
    {2, "mqtt sessions", migration_002},
    {3, "consumer groups", migration_003},
    {4, "device twins", rs_migration_twins},
    {5, "cloud-to-device queue", rs_migration_c2d},
    {6, "twin model id", rs_migration_twin_model_id},
};

const size_t rs_migration_count = sizeof(rs_migrations) / sizeof(rs_migrations[0]);
