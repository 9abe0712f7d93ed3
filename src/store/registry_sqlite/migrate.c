/* Schema migrations: brings a database of any older version up to the newest schema.
 * Applied versions are recorded in schema_migrations (and mirrored in PRAGMA user_version
 * for the sqlite3 shell); a database newer than this build is refused. */
#include <stdio.h>

#include "common/isotime.h"
#include "internal.h"

static int exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int current_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW)
        goto out;
    *out = sqlite3_column_int(st, 0);
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

static int record(sqlite3 *db, const struct rs_migration *m)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    char pragma[64];
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO schema_migrations (version, name, applied_ms) "
                           "VALUES (?1, ?2, ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int(st, 1, m->version);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, time_now_ms());
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
    if (exec_sql(db, pragma) != 0)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* On failure the SQLite message is copied to why before the rollback replaces it. */
static int apply(sqlite3 *db, const struct rs_migration *m, char *why, size_t cap)
{
    if (exec_sql(db, "BEGIN IMMEDIATE") != 0)
        goto fail;
    if (exec_sql(db, m->sql) != 0 || record(db, m) != 0 || exec_sql(db, "COMMIT") != 0)
        goto fail;
    return 0;
fail:
    snprintf(why, cap, "%s", sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int rs_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int version = 0;
    int newest = rs_migrations[rs_migration_count - 1].version;
    if (exec_sql(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " version INTEGER NOT NULL PRIMARY KEY,"
                     " name TEXT NOT NULL,"
                     " applied_ms INTEGER NOT NULL)") != 0 ||
        current_version(db, &version) != 0) {
        snprintf(err, errlen, "registry database %s: cannot read schema version: %s", path,
                 sqlite3_errmsg(db));
        return -1;
    }
    if (version > newest) {
        snprintf(err, errlen,
                 "registry database %s: schema version %d is newer than this build knows (%d)",
                 path, version, newest);
        return -1;
    }
    for (size_t i = 0; i < rs_migration_count; i++) {
        const struct rs_migration *m = &rs_migrations[i];
        if (m->version <= version)
            continue;
        char why[256];
        if (apply(db, m, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "registry database %s: migration %03d (%s) failed: %s", path,
                     m->version, m->name, why);
            return -1;
        }
    }
    return 0;
}
