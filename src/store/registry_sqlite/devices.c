/* Device identities: create, update, get, delete. Each write is one IMMEDIATE transaction
 * under the registry lock; the auth cache is updated after the commit (its entry is built
 * before, so publishing cannot fail) and the change listener is called after unlocking. */
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "internal.h"

/* The writable members, bound to `first` .. `first + 9` of RS_DEVICE_INSERT/UPDATE. */
static void bind_writable(sqlite3_stmt *st, const struct device *d, int first)
{
    sqlite3_bind_int(st, first, d->enabled ? 1 : 0);
    if (d->has_status_reason)
        sqlite3_bind_text(st, first + 1, d->status_reason, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, first + 1);
    sqlite3_bind_int64(st, first + 2, d->status_updated_ms);
    sqlite3_bind_text(st, first + 3, device_auth_type_name(d->auth_type), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 4, d->primary_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 5, d->secondary_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 6, d->primary_thumbprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 7, d->secondary_thumbprint, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, first + 8, d->iot_edge ? 1 : 0);
    sqlite3_bind_text(st, first + 9, d->device_scope, -1, SQLITE_STATIC);
}

static void copy_writable(struct device *dst, const struct device *src)
{
    dst->enabled = src->enabled;
    dst->has_status_reason = src->has_status_reason;
    memcpy(dst->status_reason, src->has_status_reason ? src->status_reason : "",
           src->has_status_reason ? sizeof(dst->status_reason) : 1);
    dst->auth_type = src->auth_type;
    memcpy(dst->primary_key, src->primary_key, sizeof(dst->primary_key));
    memcpy(dst->secondary_key, src->secondary_key, sizeof(dst->secondary_key));
    memcpy(dst->primary_thumbprint, src->primary_thumbprint, sizeof(dst->primary_thumbprint));
    memcpy(dst->secondary_thumbprint, src->secondary_thumbprint, sizeof(dst->secondary_thumbprint));
    dst->iot_edge = src->iot_edge;
    memcpy(dst->device_scope, src->device_scope, sizeof(dst->device_scope));
}

static struct auth_entry *entry_for(const struct device *d)
{
    struct device_auth a;
    rs_device_to_auth(d, &a);
    struct auth_entry *e = auth_entry_new(&a);
    explicit_bzero(&a, sizeof(a));
    return e;
}

/* Reads the current row of id. REG_OK, REG_NOT_FOUND or REG_STORAGE (rolled back). */
static int select_device(struct registry *reg, const char *id, struct device *out, int64_t *version)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_SELECT);
    if (!st)
        return rs_fail(reg, "select device");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rs_row_to_device(st, out, version);
    rs_done(st);
    if (step == SQLITE_ROW)
        return REG_OK;
    if (step == SQLITE_DONE)
        return REG_NOT_FOUND;
    return rs_fail(reg, "select device");
}

/* Runs a bound write statement; 0 or the SQLite result code. */
static int step_write(sqlite3_stmt *st)
{
    int step = sqlite3_step(st);
    int code = step == SQLITE_DONE ? 0 : sqlite3_extended_errcode(sqlite3_db_handle(st));
    rs_done(st);
    return code;
}

int registry_create_device(struct registry *reg, const struct device *dev, struct device *out)
{
    struct device next;
    struct auth_entry *entry = NULL;
    int rc;
    if (!dev || !rs_device_input_valid(dev))
        return REG_INVALID;
    memset(&next, 0, sizeof(next));
    memcpy(next.device_id, dev->device_id, sizeof(next.device_id));
    copy_writable(&next, dev);
    rc = rs_settle_credentials(&next, NULL);
    if (rc != 0)
        goto out;

    pthread_mutex_lock(&reg->lock);
    int64_t now = time_now_ms();
    rs_next_generation(reg, next.generation_id);
    rs_etag_format(1, next.etag, sizeof(next.etag));
    entry = entry_for(&next);
    if (!entry) {
        rc = REG_STORAGE;
        goto unlock;
    }
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "create device");
        goto unlock;
    }
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_INSERT);
    if (!st) {
        rc = rs_fail(reg, "create device");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, next.device_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, next.generation_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, 1);
    bind_writable(st, &next, 4);
    sqlite3_bind_int64(st, 14, now);
    int code = step_write(st);
    if (code == SQLITE_CONSTRAINT_PRIMARYKEY) {
        rs_rollback(reg);
        rc = REG_EXISTS;
        goto unlock;
    }
    if (code != 0 || rs_commit(reg) != 0) {
        rc = rs_fail(reg, "create device");
        goto unlock;
    }
    auth_cache_put(&reg->cache, entry);
    entry = NULL;
    rc = REG_OK;
unlock:
    pthread_mutex_unlock(&reg->lock);
    if (rc == REG_OK) {
        if (out)
            *out = next;
        rs_notify(reg, next.device_id, REG_CHANGE_CREATED);
    }
out:
    auth_entry_free(entry);
    explicit_bzero(&next, sizeof(next));
    return rc;
}

static enum registry_change classify(const struct device *cur, const struct device *next)
{
    if (cur->enabled && !next->enabled)
        return REG_CHANGE_DISABLED;
    if (rs_credentials_differ(cur, next))
        return REG_CHANGE_CREDENTIALS;
    return REG_CHANGE_UPDATED;
}

int registry_update_device(struct registry *reg, const struct device *dev, const char *if_match,
                           struct device *out)
{
    struct device cur, next;
    struct auth_entry *entry = NULL;
    enum registry_change change = REG_CHANGE_UPDATED;
    int64_t version = 0;
    int rc;
    if (!dev || !rs_device_input_valid(dev))
        return REG_INVALID;

    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "update device");
        goto unlock;
    }
    rc = select_device(reg, dev->device_id, &cur, &version);
    if (rc != REG_OK)
        goto rollback;
    if (!rs_etag_matches(if_match, version)) {
        rc = REG_PRECONDITION;
        goto rollback;
    }
    next = cur;
    copy_writable(&next, dev);
    rc = rs_settle_credentials(&next, &cur);
    if (rc != 0)
        goto rollback;
    int64_t now = time_now_ms();
    if (next.enabled != cur.enabled)
        next.status_updated_ms = now;
    rs_etag_format(version + 1, next.etag, sizeof(next.etag));
    change = classify(&cur, &next);
    entry = entry_for(&next);
    if (!entry) {
        rc = REG_STORAGE;
        goto rollback;
    }
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_UPDATE);
    if (!st) {
        rc = rs_fail(reg, "update device");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, next.device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, version + 1);
    bind_writable(st, &next, 3);
    sqlite3_bind_int64(st, 13, now);
    if (step_write(st) != 0 || rs_commit(reg) != 0) {
        rc = rs_fail(reg, "update device");
        goto unlock;
    }
    auth_cache_put(&reg->cache, entry);
    entry = NULL;
    rc = REG_OK;
    goto unlock;
rollback:
    rs_rollback(reg);
unlock:
    pthread_mutex_unlock(&reg->lock);
    if (rc == REG_OK) {
        if (out)
            *out = next;
        rs_notify(reg, next.device_id, change);
    }
    auth_entry_free(entry);
    explicit_bzero(&cur, sizeof(cur));
    explicit_bzero(&next, sizeof(next));
    return rc;
}

int registry_get_device(struct registry *reg, const char *device_id, struct device *out)
{
    struct device dev;
    if (!device_id || !out)
        return REG_INVALID;
    pthread_mutex_lock(&reg->lock);
    int rc = select_device(reg, device_id, &dev, NULL);
    pthread_mutex_unlock(&reg->lock);
    if (rc == REG_OK)
        *out = dev;
    explicit_bzero(&dev, sizeof(dev));
    return rc;
}

int registry_delete_device(struct registry *reg, const char *device_id, const char *if_match)
{
    struct device cur;
    int64_t version = 0;
    int rc;
    if (!device_id)
        return REG_INVALID;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "delete device");
        goto unlock;
    }
    rc = select_device(reg, device_id, &cur, &version);
    if (rc != REG_OK)
        goto rollback;
    if (!rs_etag_matches(if_match, version)) {
        rc = REG_PRECONDITION;
        goto rollback;
    }
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_DELETE);
    if (!st) {
        rc = rs_fail(reg, "delete device");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
    if (step_write(st) != 0 || rs_commit(reg) != 0) {
        rc = rs_fail(reg, "delete device");
        goto unlock;
    }
    auth_cache_remove(&reg->cache, device_id);
    rc = REG_OK;
    goto unlock;
rollback:
    rs_rollback(reg);
unlock:
    pthread_mutex_unlock(&reg->lock);
    if (rc == REG_OK)
        rs_notify(reg, device_id, REG_CHANGE_DELETED);
    explicit_bzero(&cur, sizeof(cur));
    return rc;
}
