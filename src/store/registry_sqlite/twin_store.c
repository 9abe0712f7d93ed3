/* Device twins in the registry database (twin_store.h). One row per device that has had
 * a twin change; a device without a row has the empty twin. Every write is one IMMEDIATE
 * transaction under the registry lock that reads the row, changes it in memory and writes
 * it back whole, so a failure leaves the stored twin as it was. */
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "internal.h"
#include "store/twin_store.h"

const char rs_migration_twins[] =
    /* Device twins (spec 3.5). Sections are compact JSON text: properties apart from their
     * $metadata trees; versions are the sections' $version, the twin version and the
     * counter behind the twin etag. desired_delivered is the desired $version a persistent
     * MQTT session was last brought up to when it connected (0 = none recorded), so that it
     * catches up on changes made while it was away. A device's twin goes with the device. */
    "CREATE TABLE twins ("
    " device_id TEXT NOT NULL PRIMARY KEY,"
    " tags TEXT NOT NULL,"
    " desired TEXT NOT NULL,"
    " desired_metadata TEXT NOT NULL,"
    " desired_version INTEGER NOT NULL,"
    " reported TEXT NOT NULL,"
    " reported_metadata TEXT NOT NULL,"
    " reported_version INTEGER NOT NULL,"
    " version INTEGER NOT NULL,"
    " etag INTEGER NOT NULL,"
    " desired_delivered INTEGER NOT NULL DEFAULT 0,"
    " updated_ms INTEGER NOT NULL"
    ");"
    "CREATE TRIGGER devices_delete_twin AFTER DELETE ON devices BEGIN"
    " DELETE FROM twins WHERE device_id = OLD.device_id;"
    " END;";

const char rs_migration_twin_model_id[] =
    /* The IoT Plug and Play model id of the device's last connection that named one (spec
     * 3.5 modelId; '' = none). */
    "ALTER TABLE twins ADD COLUMN model_id TEXT NOT NULL DEFAULT '';";

/* Parses one JSON object column; NULL when it is not one. */
static json_t *column_object(sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    if (!text)
        return NULL;
    json_t *v = json_loadb(text, (size_t)sqlite3_column_bytes(st, col), 0, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Reads the twin of id (the empty twin when it has no row). Expects reg->lock held.
 * REG_OK, REG_NOT_FOUND (no such device) or REG_STORAGE (rolled back). */
static int load(struct registry *reg, const char *id, struct twin_doc *out, int64_t *delivered)
{
    memset(out, 0, sizeof(*out));
    *delivered = 0;
    sqlite3_stmt *st = rs_stmt(reg, RS_TWIN_SELECT);
    if (!st)
        return rs_fail(reg, "read twin");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    int rc = REG_OK;
    if (step == SQLITE_DONE) {
        rc = REG_NOT_FOUND;
    } else if (step != SQLITE_ROW) {
        rs_done(st);
        return rs_fail(reg, "read twin");
    } else if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
        if (twin_doc_init(out, sqlite3_column_int64(st, 0)) != 0)
            rc = REG_STORAGE;
    } else {
        out->tags = column_object(st, 1);
        out->desired = column_object(st, 2);
        out->desired_meta = column_object(st, 3);
        out->desired_version = sqlite3_column_int64(st, 4);
        out->reported = column_object(st, 5);
        out->reported_meta = column_object(st, 6);
        out->reported_version = sqlite3_column_int64(st, 7);
        out->version = sqlite3_column_int64(st, 8);
        out->etag = sqlite3_column_int64(st, 9);
        *delivered = sqlite3_column_int64(st, 10);
        const char *model_id = (const char *)sqlite3_column_text(st, 11);
        bool model_id_lost = model_id && model_id[0] && !(out->model_id = strdup(model_id));
        if (!out->tags || !out->desired || !out->desired_meta || !out->reported ||
            !out->reported_meta || model_id_lost) {
            char quoted[300];
            log_error("stored twin is not valid JSON (or out of memory)", "device=%s db=%s", id,
                      log_quote(reg->path, quoted, sizeof(quoted)));
            twin_doc_free(out);
            rc = REG_STORAGE;
        }
    }
    rs_done(st);
    return rc;
}

/* Writes d and delivered as the row of id. Expects reg->lock held and a transaction
 * open. REG_OK or REG_STORAGE (rolled back). */
static int save(struct registry *reg, const char *id, const struct twin_doc *d, int64_t delivered)
{
    char *text[5] = {
        json_dumps(d->tags, JSON_COMPACT),          json_dumps(d->desired, JSON_COMPACT),
        json_dumps(d->desired_meta, JSON_COMPACT),  json_dumps(d->reported, JSON_COMPACT),
        json_dumps(d->reported_meta, JSON_COMPACT),
    };
    int rc = REG_OK;
    for (size_t i = 0; i < 5; i++)
        if (!text[i]) {
            rs_rollback(reg);
            rc = REG_STORAGE;
            goto out;
        }
    sqlite3_stmt *st = rs_stmt(reg, RS_TWIN_UPSERT);
    if (!st) {
        rc = rs_fail(reg, "store twin");
        goto out;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, text[0], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text[1], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, text[2], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, d->desired_version);
    sqlite3_bind_text(st, 6, text[3], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, text[4], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, d->reported_version);
    sqlite3_bind_int64(st, 9, d->version);
    sqlite3_bind_int64(st, 10, d->etag);
    sqlite3_bind_int64(st, 11, delivered);
    sqlite3_bind_int64(st, 12, time_now_ms());
    sqlite3_bind_text(st, 13, d->model_id ? d->model_id : "", -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    rs_done(st);
    if (step != SQLITE_DONE)
        rc = rs_fail(reg, "store twin");
out:
    for (size_t i = 0; i < 5; i++)
        free(text[i]);
    return rc;
}

int twin_store_get(struct registry *reg, const char *device_id, struct twin_doc *out)
{
    int64_t delivered;
    if (!device_id || !out)
        return REG_INVALID;
    pthread_mutex_lock(&reg->lock);
    int rc = load(reg, device_id, out, &delivered);
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int twin_store_update(struct registry *reg, const char *device_id, const char *if_match,
                      twin_edit_fn edit, void *ctx, struct twin_doc *out)
{
    struct twin_doc doc;
    int64_t delivered = 0;
    int rc;
    memset(&doc, 0, sizeof(doc));
    if (!device_id || !edit)
        return REG_INVALID;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "update twin");
        goto unlock;
    }
    rc = load(reg, device_id, &doc, &delivered);
    if (rc != REG_OK)
        goto rollback;
    if (!twin_etag_matches(if_match, doc.etag)) {
        rc = REG_PRECONDITION;
        goto rollback;
    }
    switch (edit(&doc, time_now_ms(), ctx)) {
    case TWIN_EDIT_CHANGED:
        break;
    case TWIN_EDIT_UNCHANGED:
        rc = REG_OK;
        goto rollback; /* nothing written: ending the read transaction is enough */
    case TWIN_EDIT_REJECTED:
        rc = REG_INVALID;
        goto rollback;
    default:
        rc = REG_STORAGE;
        goto rollback;
    }
    rc = save(reg, device_id, &doc, delivered);
    if (rc != REG_OK)
        goto unlock;
    if (rs_commit(reg) != 0) {
        rc = rs_fail(reg, "update twin");
        goto unlock;
    }
    goto unlock;
rollback:
    rs_rollback(reg);
unlock:
    pthread_mutex_unlock(&reg->lock);
    if (rc == REG_OK && out)
        *out = doc;
    else
        twin_doc_free(&doc);
    return rc;
}

int twin_store_desired_catch_up(struct registry *reg, const char *device_id, json_t **whole)
{
    struct twin_doc doc;
    int64_t delivered = 0;
    int rc;
    memset(&doc, 0, sizeof(doc));
    *whole = NULL;
    if (!device_id)
        return REG_INVALID;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "desired catch-up");
        goto unlock;
    }
    rc = load(reg, device_id, &doc, &delivered);
    if (rc != REG_OK || delivered == doc.desired_version) {
        rs_rollback(reg); /* nothing to record */
        goto unlock;
    }
    if (delivered > 0 && doc.desired_version > delivered) {
        *whole = twin_section_json(&doc, TWIN_DESIRED, false);
        if (!*whole) {
            rs_rollback(reg);
            rc = REG_STORAGE;
            goto unlock;
        }
    }
    rc = save(reg, device_id, &doc, doc.desired_version);
    if (rc == REG_OK && rs_commit(reg) != 0)
        rc = rs_fail(reg, "desired catch-up");
    if (rc != REG_OK) {
        json_decref(*whole);
        *whole = NULL;
    }
unlock:
    pthread_mutex_unlock(&reg->lock);
    twin_doc_free(&doc);
    return rc;
}

static enum twin_edit set_model_id(struct twin_doc *d, int64_t now_ms, void *ctx)
{
    (void)now_ms;
    const char *model_id = ctx;
    if (d->model_id && strcmp(d->model_id, model_id) == 0)
        return TWIN_EDIT_UNCHANGED;
    char *copy = strdup(model_id);
    if (!copy)
        return TWIN_EDIT_FAILED;
    free(d->model_id);
    d->model_id = copy;
    return TWIN_EDIT_CHANGED;
}

int twin_store_set_model_id(struct registry *reg, const char *device_id, const char *model_id)
{
    if (!model_id || !model_id[0])
        return REG_INVALID;
    return twin_store_update(reg, device_id, NULL, set_model_id, (void *)model_id, NULL);
}
