/* Opening and closing the embedded registry: the SQLite connection and its settings
 * (WAL, synchronous=FULL, busy timeout), schema migrations, the auth cache load, the
 * change listener and the one place storage failures are reported. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "internal.h"

#define BUSY_TIMEOUT_MS 5000

const char *registry_strerror(int result)
{
    switch (result) {
    case REG_OK:
        return "ok";
    case REG_NOT_FOUND:
        return "not found";
    case REG_EXISTS:
        return "already exists";
    case REG_PRECONDITION:
        return "etag does not match";
    case REG_INVALID:
        return "invalid argument";
    case REG_STORAGE:
        return "storage failure";
    default:
        return "unknown registry error";
    }
}

int rs_fail(struct registry *reg, const char *op)
{
    char quoted_op[64], quoted[600], path[4200];
    /* Read the message before the rollback replaces it. Bound values (keys) never appear
     * in SQLite's messages. */
    const char *msg = sqlite3_errmsg(reg->db);
    int code = sqlite3_extended_errcode(reg->db);
    log_quote(msg, quoted, sizeof(quoted));
    log_error("registry storage failure", "op=%s sqlite=%d error=%s db=%s",
              log_quote(op, quoted_op, sizeof(quoted_op)), code, quoted,
              log_quote(reg->path, path, sizeof(path)));
    rs_rollback(reg);
    return REG_STORAGE;
}

static int configure(struct registry *reg, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *mode;
    int rc = -1;
    bool memory = strcmp(reg->path, ":memory:") == 0;
    if (sqlite3_db_readonly(reg->db, "main") == 1) {
        snprintf(err, errlen, "registry database %s: the file is read-only", reg->path);
        goto out;
    }
    sqlite3_extended_result_codes(reg->db, 1);
    sqlite3_busy_timeout(reg->db, BUSY_TIMEOUT_MS);
    if (sqlite3_prepare_v2(reg->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto sqlite_error;
    mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || (strcmp(mode, "wal") != 0 && !(memory && strcmp(mode, "memory") == 0))) {
        snprintf(err, errlen, "registry database %s: cannot use WAL journal (got %s)", reg->path,
                 mode ? mode : "nothing");
        goto out;
    }
    /* Registry writes are acknowledged to callers, so every commit is synced. */
    if (sqlite3_exec(reg->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto sqlite_error;
    rc = 0;
    goto out;
sqlite_error:
    snprintf(err, errlen, "registry database %s: %s", reg->path, sqlite3_errmsg(reg->db));
out:
    sqlite3_finalize(st);
    return rc;
}

/* Why the file cannot be opened for writing, from the file system itself: SQLite's last
 * errno is often that of its read-only fallback (ENOENT) rather than the real cause. */
static const char *explain_open_failure(const char *path, char *buf, size_t cap)
{
    struct stat st;
    char dir[4096];
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return "it is a directory";
        if (access(path, R_OK | W_OK) != 0)
            return strerror(errno);
        return NULL;
    }
    if (errno != ENOENT)
        return strerror(errno);
    str_copy(dir, sizeof(dir), path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        str_copy(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &st) != 0) {
        snprintf(buf, cap, "directory %s: %s", dir, strerror(errno));
        return buf;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(buf, cap, "%s is not a directory", dir);
        return buf;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(buf, cap, "directory %s is not writable: %s", dir, strerror(errno));
        return buf;
    }
    return NULL;
}

static int open_db(struct registry *reg, char *err, size_t errlen)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    char why[4200];
    if (sqlite3_open_v2(reg->path, &reg->db, flags, NULL) == SQLITE_OK)
        return 0;
    const char *fs = explain_open_failure(reg->path, why, sizeof(why));
    snprintf(err, errlen, "cannot open registry database %s: %s", reg->path,
             fs        ? fs
             : reg->db ? sqlite3_errmsg(reg->db)
                       : "out of memory");
    return -1;
}

struct registry *registry_open(const char *path, char *err, size_t errlen)
{
    struct registry *reg = calloc(1, sizeof(*reg));
    if (!reg) {
        snprintf(err, errlen, "registry database %s: out of memory", path);
        return NULL;
    }
    if (pthread_mutex_init(&reg->lock, NULL) != 0) {
        snprintf(err, errlen, "registry database %s: cannot create a mutex", path);
        free(reg);
        return NULL;
    }
    if (!str_copy(reg->path, sizeof(reg->path), path)) {
        snprintf(err, errlen, "registry database path is too long");
        goto fail;
    }
    if (auth_cache_init(&reg->cache) != 0) {
        snprintf(err, errlen, "registry database %s: out of memory", path);
        goto fail;
    }
    if (open_db(reg, err, errlen) != 0 || configure(reg, err, errlen) != 0 ||
        rs_migrate(reg->db, reg->path, err, errlen) != 0)
        goto fail;
    if (rs_load_cache(reg) != 0) {
        snprintf(err, errlen, "registry database %s: cannot load devices and policies: %s", path,
                 sqlite3_errmsg(reg->db));
        goto fail;
    }
    return reg;
fail:
    registry_close(reg);
    return NULL;
}

void registry_close(struct registry *reg)
{
    if (!reg)
        return;
    rs_finalize_all(reg);
    if (reg->db)
        sqlite3_close(reg->db);
    auth_cache_free(&reg->cache);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

void registry_set_change_listener(struct registry *reg, registry_change_fn fn, void *ctx)
{
    pthread_mutex_lock(&reg->lock);
    reg->listener = fn;
    reg->listener_ctx = ctx;
    pthread_mutex_unlock(&reg->lock);
}

void rs_notify(struct registry *reg, const char *device_id, enum registry_change change)
{
    pthread_mutex_lock(&reg->lock);
    registry_change_fn fn = reg->listener;
    void *ctx = reg->listener_ctx;
    pthread_mutex_unlock(&reg->lock);
    if (fn)
        fn(ctx, device_id, change);
}

int registry_get_device_auth(struct registry *reg, const char *device_id, struct device_auth *out)
{
    if (!device_id)
        return REG_INVALID;
    return auth_cache_get(&reg->cache, device_id, out) ? REG_OK : REG_NOT_FOUND;
}
