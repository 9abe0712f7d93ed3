/* Internals of the embedded (SQLite) registry backend, shared by its files only (and by
 * the store unit tests, which reach the connection to simulate a full disk).
 *
 * Locking: `lock` guards the one sqlite3 connection, its cached statements and
 * `last_generation`. The auth cache has its own rwlock, so a device lookup never waits for
 * a write that is syncing to disk. Order: `lock` before the cache lock, never the reverse.
 * The change listener is called with no lock held. */
#ifndef IOTHUB_STORE_REGISTRY_SQLITE_INTERNAL_H
#define IOTHUB_STORE_REGISTRY_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "store/registry.h"

/* ---- auth cache (auth_cache.c) ---------------------------------------------------- */

struct auth_entry; /* one device, one allocation */

struct auth_cache {
    pthread_rwlock_t lock;
    struct auth_entry **buckets; /* chained hash table, nbuckets a power of two */
    size_t nbuckets;
    size_t count;
    struct policy *policies; /* all policies, in creation order */
    size_t npolicies;
    /* Consumer groups other than "$Default", ordered case-insensitively (consumer_groups.c). */
    char (*groups)[CONSUMER_GROUP_NAME_MAX + 1];
    size_t ngroups;
};

int auth_cache_init(struct auth_cache *c);
void auth_cache_free(struct auth_cache *c);
/* Builds an entry for insertion; done before a transaction so that publishing the
 * committed result cannot fail. NULL when out of memory. */
struct auth_entry *auth_entry_new(const struct device_auth *a);
void auth_entry_free(struct auth_entry *e);
/* Inserts e (taking ownership), replacing and freeing an entry with the same id. */
void auth_cache_put(struct auth_cache *c, struct auth_entry *e);
void auth_cache_remove(struct auth_cache *c, const char *device_id);
bool auth_cache_get(struct auth_cache *c, const char *device_id, struct device_auth *out);
/* Replaces the policy list, taking ownership of the malloc'ed array. */
void auth_cache_set_policies(struct auth_cache *c, struct policy *list, size_t n);
bool auth_cache_get_policy(struct auth_cache *c, const char *name, struct policy *out);
/* Copy of all policies (malloc'ed, NULL when n == 0); -1 when out of memory. */
int auth_cache_copy_policies(struct auth_cache *c, struct policy **out, size_t *n);
/* consumer_groups.c: replaces the stored consumer groups (not "$Default"), taking ownership
 * of the malloc'ed array, which must be ordered case-insensitively. */
void auth_cache_set_groups(struct auth_cache *c, char (*list)[CONSUMER_GROUP_NAME_MAX + 1],
                           size_t n);

/* ---- the registry --------------------------------------------------------------- */

/* Cached prepared statements; their SQL is in statements.c. */
enum rs_stmt {
    RS_BEGIN,
    RS_COMMIT,
    RS_ROLLBACK,
    RS_SYNC_FULL,
    RS_SYNC_NORMAL,
    RS_DEVICE_INSERT,
    RS_DEVICE_SELECT,
    RS_DEVICE_UPDATE,
    RS_DEVICE_DELETE,
    RS_DEVICE_LIST,
    RS_DEVICE_STATS,
    RS_DEVICE_SET_CONNECTION,
    RS_DEVICE_TOUCH,
    RS_DEVICE_AUTH_ALL,
    RS_DEVICE_MAX_GENERATION,
    RS_POLICY_COUNT,
    RS_POLICY_INSERT,
    RS_POLICY_ALL,
    RS_SETTING_GET,
    RS_SETTING_SET,
    RS_SESSION_GET,
    RS_SESSION_SET,
    RS_SESSION_DELETE,
    RS_CONSUMER_GROUP_INSERT,
    RS_CONSUMER_GROUP_DELETE,
    RS_CONSUMER_GROUP_ALL,
    /* twins (twin_store.c) */
    RS_TWIN_SELECT,
    RS_TWIN_UPSERT,
    /* cloud-to-device (c2d_store.c) */
    RS_C2D_DEVICE_EXISTS,
    RS_C2D_COUNT,
    RS_C2D_INSERT,
    RS_C2D_DUE_DEVICE,
    RS_C2D_DUE_ALL,
    RS_C2D_NEXT,
    RS_C2D_LOCK,
    RS_C2D_UNLOCK,
    RS_C2D_STATE,
    RS_C2D_DELETE,
    RS_C2D_NEXT_EXPIRY,
    RS_C2D_FEEDBACK_FROM_MESSAGE,
    RS_C2D_FEEDBACK_PURGE,
    RS_C2D_FEEDBACK_WAITING,
    RS_C2D_FEEDBACK_SELECT,
    RS_C2D_FEEDBACK_LOCK,
    RS_C2D_FEEDBACK_UNLOCK,
    RS_C2D_FEEDBACK_DELETE,
    RS_STMT_COUNT
};

struct registry {
    pthread_mutex_t lock;
    sqlite3 *db;
    sqlite3_stmt *stmts[RS_STMT_COUNT];
    char path[4096];
    int64_t last_generation; /* last generationId issued, in .NET ticks */
    registry_change_fn listener;
    void *listener_ctx;
    int64_t c2d_epoch; /* c2d_store.c: this process's delivery locks; 0 until first used */
    struct auth_cache cache;
};

/* statements.c: all of these expect reg->lock held. rs_stmt returns the cached statement,
 * preparing it on first use (NULL on failure); rs_done resets it after use. */
sqlite3_stmt *rs_stmt(struct registry *reg, enum rs_stmt id);
void rs_done(sqlite3_stmt *st);
void rs_finalize_all(struct registry *reg);
/* Runs a statement that returns no rows (transaction control, pragmas). SQLITE_OK/DONE
 * become 0, anything else -1. */
int rs_exec(struct registry *reg, enum rs_stmt id);
int rs_begin(struct registry *reg); /* BEGIN IMMEDIATE */
int rs_commit(struct registry *reg);
/* Rolls back when a transaction is open; safe to call after a failed COMMIT. */
void rs_rollback(struct registry *reg);

/* schema.c / migrate.c */
struct rs_migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct rs_migration rs_migrations[];
/* The SQL of migrations 4 and 5 sits beside the code that uses it. */
extern const char rs_migration_twins[];
extern const char rs_migration_c2d[];
extern const char rs_migration_twin_model_id[];
extern const size_t rs_migration_count;
/* Applies the missing migrations, each in its own transaction. 0, or -1 with err set. */
int rs_migrate(sqlite3 *db, const char *path, char *err, size_t errlen);

/* ids.c: generationId (.NET ticks) and etag (base64 of a decimal version). */
#define RS_TICKS_AT_UNIX_EPOCH INT64_C(621355968000000000)
/* Next generationId for a (re)created device, strictly above every one issued before.
 * Expects reg->lock held. */
void rs_next_generation(struct registry *reg, char out[24]);
void rs_etag_format(int64_t version, char *out, size_t cap);
/* Compares an If-Match value with the etag of version: NULL, "*" or "\"*\"" match
 * anything; surrounding quotes and a W/ prefix are ignored. */
bool rs_etag_matches(const char *if_match, int64_t version);

/* credentials.c: validation and normalisation of what a create or update asks for. */
bool rs_device_input_valid(const struct device *dev);
/* Fills in the credentials of next: keeps (update, cur != NULL) or generates what is empty
 * and clears what the auth type does not use. 0; REG_INVALID (selfSigned without any
 * thumbprint); REG_STORAGE when the random generator failed. */
int rs_settle_credentials(struct device *next, const struct device *cur);
/* true when auth type, keys or thumbprints differ. */
bool rs_credentials_differ(const struct device *a, const struct device *b);
void rs_device_to_auth(const struct device *dev, struct device_auth *out);

/* device_row.c: the column list of RS_DEVICE_SELECT and RS_DEVICE_LIST and its reader.
 * version (may be NULL) receives the etag counter. */
#define RS_DEVICE_COLUMNS                                                                          \
    "device_id, generation_id, version, enabled, status_reason, status_updated_ms, "               \
    "auth_type, primary_key, secondary_key, primary_thumbprint, secondary_thumbprint, "            \
    "connected, connection_state_updated_ms, last_activity_ms, iot_edge, "                         \
    "device_scope, " RS_DEVICE_C2D_COUNT
/* cloudToDeviceMessageCount: the device's unexpired queued messages (c2d_store.c). */
#define RS_DEVICE_C2D_COUNT                                                                        \
    "(SELECT COUNT(*) FROM c2d_messages m WHERE m.device_id = devices.device_id AND"               \
    " m.expiry_ms > CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))"
void rs_row_to_device(sqlite3_stmt *st, struct device *out, int64_t *version);

/* registry_sqlite.c */
void rs_notify(struct registry *reg, const char *device_id, enum registry_change change);
/* Logs the SQLite error of op (never a value), rolls back any open transaction and returns
 * REG_STORAGE. Expects reg->lock held. */
int rs_fail(struct registry *reg, const char *op);

/* cache_load.c: fills the auth cache (devices, policies, consumer groups) and
 * last_generation at open. */
int rs_load_cache(struct registry *reg);
/* consumer_groups.c: the consumer groups part of rs_load_cache. 0 or -1. */
int rs_load_consumer_groups(struct registry *reg);

#endif
