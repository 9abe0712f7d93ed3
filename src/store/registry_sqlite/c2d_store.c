/* The cloud-to-device queue and the feedback queue in the registry database (see
 * store/c2d_store.h for the rules). Every write is one IMMEDIATE transaction under the
 * registry lock, committed with synchronous=FULL before the function returns. */
#include "store/c2d_store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/random.h"
#include "common/strbuf.h"
#include "internal.h"

const char rs_migration_c2d[] =
    /* One row per queued message, in enqueue order (seq). Text columns are NULL when the
     * sender did not set the property; ack is NULL when it set no iothub-ack.
     * app_properties is the percent-encoded bag of spec 2.8 ("k=v&k2", "" for none).
     * lock_epoch is the registry epoch of the process that handed the message out (0: not
     * handed out); a lock of an older process is void. */
    "CREATE TABLE c2d_messages ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " device_id TEXT NOT NULL,"
    " message_id TEXT,"
    " correlation_id TEXT,"
    " user_id TEXT,"
    " content_type TEXT,"
    " content_encoding TEXT,"
    " ack INTEGER,"
    " expiry_given INTEGER NOT NULL,"
    " enqueued_ms INTEGER NOT NULL,"
    " expiry_ms INTEGER NOT NULL,"
    " delivery_count INTEGER NOT NULL DEFAULT 0,"
    " lock_epoch INTEGER NOT NULL DEFAULT 0,"
    " app_properties TEXT NOT NULL DEFAULT '',"
    " body BLOB NOT NULL"
    ");"
    "CREATE INDEX c2d_messages_device ON c2d_messages (device_id, seq);"
    "CREATE INDEX c2d_messages_expiry ON c2d_messages (expiry_ms);"
    "CREATE TRIGGER devices_delete_c2d_messages AFTER DELETE ON devices BEGIN"
    " DELETE FROM c2d_messages WHERE device_id = OLD.device_id;"
    " END;"
    /* Delivery feedback waiting for the service (spec 5.3). enqueued_ms is when the outcome
     * happened, created_ms when the record was written (the flush delay counts from it). */
    "CREATE TABLE c2d_feedback ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " original_message_id TEXT NOT NULL,"
    " device_id TEXT NOT NULL,"
    " device_generation_id TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " enqueued_ms INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " expiry_ms INTEGER NOT NULL,"
    " delivery_count INTEGER NOT NULL DEFAULT 0,"
    " lock_epoch INTEGER NOT NULL DEFAULT 0,"
    " locked_until_ms INTEGER NOT NULL DEFAULT 0"
    ");";

/* Dead or expired messages handled per pass of a sweep. */
#define SWEEP_BATCH 64

static const char *const ack_names[] = {"none", "positive", "negative", "full"};

int c2d_ack_parse(const char *s, enum c2d_ack *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, ack_names[i]) == 0) {
            *out = (enum c2d_ack)i;
            return 0;
        }
    }
    return -1;
}

const char *c2d_ack_name(enum c2d_ack ack)
{
    return (unsigned)ack < 4 ? ack_names[ack] : "none";
}

const char *c2d_feedback_status_name(enum c2d_feedback_status s)
{
    switch (s) {
    case C2D_FEEDBACK_SUCCESS:
        return "Success";
    case C2D_FEEDBACK_EXPIRED:
        return "Expired";
    case C2D_FEEDBACK_DELIVERY_COUNT_EXCEEDED:
        return "DeliveryCountExceeded";
    case C2D_FEEDBACK_REJECTED:
        return "Rejected";
    }
    return "Success";
}

const char *c2d_feedback_description(enum c2d_feedback_status s)
{
    switch (s) {
    case C2D_FEEDBACK_SUCCESS:
        return "Success";
    case C2D_FEEDBACK_EXPIRED:
        return "Message expired";
    case C2D_FEEDBACK_DELIVERY_COUNT_EXCEEDED:
        return "Message delivery count exceeded";
    case C2D_FEEDBACK_REJECTED:
        return "Message rejected";
    }
    return "";
}

void c2d_message_free(struct c2d_message *m)
{
    free(m->message_id);
    free(m->correlation_id);
    free(m->user_id);
    free(m->content_type);
    free(m->content_encoding);
    free(m->app_properties);
    free(m->body);
    memset(m, 0, sizeof(*m));
}

/* This process's lock epoch, chosen on first use under reg->lock: random, positive and
 * never 0, so locks written by an earlier process (or none) never match it. */
static int64_t epoch(struct registry *reg)
{
    while (reg->c2d_epoch <= 0) {
        uint64_t r = 0;
        if (random_bytes((uint8_t *)&r, sizeof(r)) != 0)
            r = (uint64_t)time(NULL) * 2654435761u;
        reg->c2d_epoch = (int64_t)(r >> 2);
    }
    return reg->c2d_epoch;
}

static void bind_opt_text(sqlite3_stmt *st, int col, const char *s)
{
    if (s)
        sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, col);
}

/* Runs a bound write statement and resets it. true on SQLITE_DONE. */
static bool step_done(sqlite3_stmt *st)
{
    int step = sqlite3_step(st);
    rs_done(st);
    return step == SQLITE_DONE;
}

static bool wants_feedback(int ack, enum c2d_feedback_status s)
{
    if (s == C2D_FEEDBACK_SUCCESS)
        return ack == C2D_ACK_POSITIVE || ack == C2D_ACK_FULL;
    return ack == C2D_ACK_NEGATIVE || ack == C2D_ACK_FULL;
}

/* Writes the feedback record of message seq (when its ack asks for it) and deletes the
 * message. Expects a transaction. 0 or -1. */
static int finish_message(struct registry *reg, int64_t seq, int ack, enum c2d_feedback_status s,
                          int64_t when_ms, int64_t now_ms, bool *feedback_added)
{
    if (wants_feedback(ack, s)) {
        sqlite3_stmt *st = rs_stmt(reg, RS_C2D_FEEDBACK_FROM_MESSAGE);
        if (!st)
            return -1;
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int(st, 2, (int)s);
        sqlite3_bind_int64(st, 3, when_ms);
        sqlite3_bind_int64(st, 4, now_ms);
        sqlite3_bind_int64(st, 5, when_ms + C2D_FEEDBACK_TTL_MS);
        if (!step_done(st))
            return -1;
        if (feedback_added)
            *feedback_added = true;
    }
    sqlite3_stmt *del = rs_stmt(reg, RS_C2D_DELETE);
    if (!del)
        return -1;
    sqlite3_bind_int64(del, 1, seq);
    return step_done(del) ? 0 : -1;
}

/* Expired and dead messages (of one device, or of all when device_id is NULL) that are
 * not handed out by this process leave the queue, with feedback where asked. Expects a
 * transaction. 0 or -1. */
static int sweep(struct registry *reg, const char *device_id, int64_t now_ms, bool *feedback_added)
{
    for (;;) {
        struct {
            int64_t seq, expiry_ms;
            int ack;
        } batch[SWEEP_BATCH];
        size_t n = 0;
        sqlite3_stmt *st = rs_stmt(reg, device_id ? RS_C2D_DUE_DEVICE : RS_C2D_DUE_ALL);
        if (!st)
            return -1;
        bind_opt_text(st, 1, device_id);
        sqlite3_bind_int64(st, 2, epoch(reg));
        sqlite3_bind_int64(st, 3, now_ms);
        sqlite3_bind_int(st, 4, C2D_MAX_DELIVERY_COUNT);
        sqlite3_bind_int(st, 5, SWEEP_BATCH);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW && n < SWEEP_BATCH) {
            batch[n].seq = sqlite3_column_int64(st, 0);
            batch[n].ack = sqlite3_column_type(st, 1) == SQLITE_NULL ? C2D_ACK_NONE
                                                                     : sqlite3_column_int(st, 1);
            batch[n].expiry_ms = sqlite3_column_int64(st, 2);
            n++;
        }
        rs_done(st);
        if (step != SQLITE_DONE && step != SQLITE_ROW)
            return -1;
        for (size_t i = 0; i < n; i++) {
            bool expired = batch[i].expiry_ms <= now_ms;
            enum c2d_feedback_status s =
                expired ? C2D_FEEDBACK_EXPIRED : C2D_FEEDBACK_DELIVERY_COUNT_EXCEEDED;
            int64_t when = expired ? batch[i].expiry_ms : now_ms;
            if (finish_message(reg, batch[i].seq, batch[i].ack, s, when, now_ms, feedback_added) !=
                0)
                return -1;
        }
        if (n < SWEEP_BATCH)
            return 0;
    }
}

static int count_live(struct registry *reg, const char *device_id, int64_t now_ms, int64_t *count)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_C2D_COUNT);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    rs_done(st);
    return step == SQLITE_ROW ? 0 : -1;
}

int c2d_enqueue(struct registry *reg, struct c2d_message *m, int64_t now_ms)
{
    m->enqueued_ms = now_ms;
    if (!m->expiry_given || m->expiry_ms > now_ms + C2D_TTL_MAX_MS)
        m->expiry_ms = now_ms + (m->expiry_given ? C2D_TTL_MAX_MS : C2D_TTL_DEFAULT_MS);
    int rc = REG_OK;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "begin c2d enqueue");
        goto unlock;
    }
    sqlite3_stmt *st = rs_stmt(reg, RS_C2D_DEVICE_EXISTS);
    if (!st) {
        rc = rs_fail(reg, "c2d enqueue: find device");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, m->device_id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    rs_done(st);
    if (step == SQLITE_DONE) {
        rs_rollback(reg);
        rc = REG_NOT_FOUND;
        goto unlock;
    }
    int64_t queued = 0;
    if (step != SQLITE_ROW || count_live(reg, m->device_id, now_ms, &queued) != 0) {
        rc = rs_fail(reg, "c2d enqueue: count queue");
        goto unlock;
    }
    if (queued >= C2D_QUEUE_MAX) {
        rs_rollback(reg);
        rc = C2D_QUEUE_FULL;
        goto unlock;
    }
    st = rs_stmt(reg, RS_C2D_INSERT);
    if (!st) {
        rc = rs_fail(reg, "c2d enqueue: insert");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, m->device_id, -1, SQLITE_STATIC);
    bind_opt_text(st, 2, m->message_id);
    bind_opt_text(st, 3, m->correlation_id);
    bind_opt_text(st, 4, m->user_id);
    bind_opt_text(st, 5, m->content_type);
    bind_opt_text(st, 6, m->content_encoding);
    if (m->ack_given)
        sqlite3_bind_int(st, 7, (int)m->ack);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_int(st, 8, m->expiry_given ? 1 : 0);
    sqlite3_bind_int64(st, 9, m->enqueued_ms);
    sqlite3_bind_int64(st, 10, m->expiry_ms);
    sqlite3_bind_text(st, 11, m->app_properties ? m->app_properties : "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 12, m->body ? (const void *)m->body : "", (int)m->body_len,
                      SQLITE_STATIC);
    if (!step_done(st)) {
        rc = rs_fail(reg, "c2d enqueue: insert");
        goto unlock;
    }
    m->seq = sqlite3_last_insert_rowid(reg->db);
    if (rs_commit(reg) != 0)
        rc = rs_fail(reg, "commit c2d enqueue");
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

static char *column_dup(sqlite3_stmt *st, int col, bool *oom)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    const char *s = (const char *)sqlite3_column_text(st, col);
    char *d = s ? strdup(s) : NULL;
    if (!d)
        *oom = true;
    return d;
}

/* Reads a row of RS_C2D_NEXT. false when out of memory. */
static bool read_message(sqlite3_stmt *st, const char *device_id, struct c2d_message *m)
{
    bool oom = false;
    memset(m, 0, sizeof(*m));
    str_copy(m->device_id, sizeof(m->device_id), device_id);
    m->seq = sqlite3_column_int64(st, 0);
    m->message_id = column_dup(st, 1, &oom);
    m->correlation_id = column_dup(st, 2, &oom);
    m->user_id = column_dup(st, 3, &oom);
    m->content_type = column_dup(st, 4, &oom);
    m->content_encoding = column_dup(st, 5, &oom);
    m->ack_given = sqlite3_column_type(st, 6) != SQLITE_NULL;
    int ack = sqlite3_column_int(st, 6);
    m->ack = ack >= 0 && ack <= 3 ? (enum c2d_ack)ack : C2D_ACK_NONE;
    m->expiry_given = sqlite3_column_int(st, 7) != 0;
    m->enqueued_ms = sqlite3_column_int64(st, 8);
    m->expiry_ms = sqlite3_column_int64(st, 9);
    m->delivery_count = (uint32_t)sqlite3_column_int64(st, 10) + 1; /* this delivery */
    m->app_properties = column_dup(st, 11, &oom);
    if (!m->app_properties && !oom)
        m->app_properties = strdup("");
    const void *body = sqlite3_column_blob(st, 12);
    m->body_len = (size_t)sqlite3_column_bytes(st, 12);
    m->body = malloc(m->body_len ? m->body_len : 1);
    if (m->body && m->body_len)
        memcpy(m->body, body, m->body_len);
    if (oom || !m->app_properties || !m->body) {
        c2d_message_free(m);
        return false;
    }
    return true;
}

int c2d_take(struct registry *reg, const char *device_id, int64_t now_ms, size_t max,
             struct c2d_message *out, size_t *n, bool *feedback_added)
{
    *n = 0;
    int rc = REG_OK;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "begin c2d take");
        goto unlock;
    }
    bool added = false;
    if (sweep(reg, device_id, now_ms, &added) != 0) {
        rc = rs_fail(reg, "c2d take: expire messages");
        goto unlock;
    }
    sqlite3_stmt *st = rs_stmt(reg, RS_C2D_NEXT);
    if (!st) {
        rc = rs_fail(reg, "c2d take: select");
        goto unlock;
    }
    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, epoch(reg));
    sqlite3_bind_int64(st, 3, now_ms);
    sqlite3_bind_int(st, 4, C2D_MAX_DELIVERY_COUNT);
    sqlite3_bind_int64(st, 5, (int64_t)max);
    int step = SQLITE_DONE;
    bool oom = false;
    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!read_message(st, device_id, &out[*n])) {
            oom = true;
            break;
        }
        (*n)++;
    }
    rs_done(st);
    if (oom || (*n < max && step != SQLITE_DONE)) {
        for (size_t i = 0; i < *n; i++)
            c2d_message_free(&out[i]);
        *n = 0;
        rc = rs_fail(reg, oom ? "c2d take: out of memory" : "c2d take: select");
        goto unlock;
    }
    bool locked = true;
    for (size_t i = 0; i < *n && locked; i++) {
        sqlite3_stmt *lock = rs_stmt(reg, RS_C2D_LOCK);
        if (!lock) {
            locked = false;
            break;
        }
        sqlite3_bind_int64(lock, 1, out[i].seq);
        sqlite3_bind_int64(lock, 2, epoch(reg));
        locked = step_done(lock);
    }
    if (!locked || rs_commit(reg) != 0) {
        for (size_t i = 0; i < *n; i++)
            c2d_message_free(&out[i]);
        *n = 0;
        rc = rs_fail(reg, "c2d take: lock");
        goto unlock;
    }
    if (feedback_added && added)
        *feedback_added = true;
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* Reads ack and delivery count of message seq. REG_OK, REG_NOT_FOUND, or -1. */
static int message_state(struct registry *reg, int64_t seq, int *ack, int *count)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_C2D_STATE);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *ack = sqlite3_column_type(st, 0) == SQLITE_NULL ? C2D_ACK_NONE : sqlite3_column_int(st, 0);
        *count = sqlite3_column_int(st, 1);
    }
    rs_done(st);
    return step == SQLITE_ROW ? REG_OK : step == SQLITE_DONE ? REG_NOT_FOUND : -1;
}

int c2d_complete(struct registry *reg, int64_t seq, int64_t now_ms, bool *feedback_added)
{
    int rc = REG_OK, ack = 0, count = 0;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "begin c2d complete");
        goto unlock;
    }
    int found = message_state(reg, seq, &ack, &count);
    if (found == REG_NOT_FOUND) {
        rs_rollback(reg);
        rc = REG_NOT_FOUND;
        goto unlock;
    }
    bool added = false;
    if (found != REG_OK ||
        finish_message(reg, seq, ack, C2D_FEEDBACK_SUCCESS, now_ms, now_ms, &added) != 0) {
        rc = rs_fail(reg, "c2d complete");
        goto unlock;
    }
    if (rs_commit(reg) != 0) {
        rc = rs_fail(reg, "commit c2d complete");
        goto unlock;
    }
    if (feedback_added && added)
        *feedback_added = true;
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int c2d_release(struct registry *reg, const int64_t *seqs, size_t n, int64_t now_ms,
                bool *feedback_added)
{
    if (n == 0)
        return REG_OK;
    int rc = REG_OK;
    bool added = false;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "begin c2d release");
        goto unlock;
    }
    for (size_t i = 0; i < n; i++) {
        int ack = 0, count = 0;
        int found = message_state(reg, seqs[i], &ack, &count);
        if (found == REG_NOT_FOUND)
            continue;
        if (found != REG_OK)
            goto fail;
        if (count >= C2D_MAX_DELIVERY_COUNT) {
            if (finish_message(reg, seqs[i], ack, C2D_FEEDBACK_DELIVERY_COUNT_EXCEEDED, now_ms,
                               now_ms, &added) != 0)
                goto fail;
            continue;
        }
        sqlite3_stmt *st = rs_stmt(reg, RS_C2D_UNLOCK);
        if (!st)
            goto fail;
        sqlite3_bind_int64(st, 1, seqs[i]);
        sqlite3_bind_int64(st, 2, epoch(reg));
        if (!step_done(st))
            goto fail;
    }
    if (rs_commit(reg) != 0)
        goto fail;
    if (feedback_added && added)
        *feedback_added = true;
    goto unlock;
fail:
    rc = rs_fail(reg, "c2d release");
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int c2d_count(struct registry *reg, const char *device_id, int64_t now_ms, int64_t *count)
{
    int rc = REG_OK;
    *count = 0;
    pthread_mutex_lock(&reg->lock);
    if (count_live(reg, device_id, now_ms, count) != 0)
        rc = rs_fail(reg, "c2d count");
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* ---- feedback ------------------------------------------------------------------------ */

/* Waiting (not locked) records: how many and when the oldest was written. */
static int feedback_waiting(struct registry *reg, int64_t now_ms, int64_t *count,
                            int64_t *oldest_ms)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_C2D_FEEDBACK_WAITING);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, epoch(reg));
    sqlite3_bind_int64(st, 2, now_ms);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *count = sqlite3_column_int64(st, 0);
        *oldest_ms = sqlite3_column_int64(st, 1);
    }
    rs_done(st);
    return step == SQLITE_ROW ? 0 : -1;
}

/* The earliest expiry of a message whose expiry will make feedback, or 0. */
static int next_feedback_expiry(struct registry *reg, int64_t *out)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_C2D_NEXT_EXPIRY);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, epoch(reg));
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    rs_done(st);
    return step == SQLITE_ROW ? 0 : -1;
}

static int64_t earliest(int64_t a, int64_t b)
{
    return !a ? b : !b ? a : a < b ? a : b;
}

/* Selects and locks up to max waiting records into out. Expects a transaction. */
static int lock_batch(struct registry *reg, int64_t now_ms, size_t max, struct c2d_feedback *out,
                      size_t *n)
{
    sqlite3_stmt *st = rs_stmt(reg, RS_C2D_FEEDBACK_SELECT);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, epoch(reg));
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, (int64_t)max);
    int step = SQLITE_DONE;
    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct c2d_feedback *f = &out[*n];
        memset(f, 0, sizeof(*f));
        f->id = sqlite3_column_int64(st, 0);
        const char *s = (const char *)sqlite3_column_text(st, 1);
        str_copy(f->original_message_id, sizeof(f->original_message_id), s ? s : "");
        s = (const char *)sqlite3_column_text(st, 2);
        str_copy(f->device_id, sizeof(f->device_id), s ? s : "");
        s = (const char *)sqlite3_column_text(st, 3);
        str_copy(f->device_generation_id, sizeof(f->device_generation_id), s ? s : "");
        int status = sqlite3_column_int(st, 4);
        f->status =
            status >= 0 && status <= 3 ? (enum c2d_feedback_status)status : C2D_FEEDBACK_SUCCESS;
        f->enqueued_ms = sqlite3_column_int64(st, 5);
        (*n)++;
    }
    rs_done(st);
    if (*n < max && step != SQLITE_DONE)
        return -1;
    for (size_t i = 0; i < *n; i++) {
        sqlite3_stmt *lock = rs_stmt(reg, RS_C2D_FEEDBACK_LOCK);
        if (!lock)
            return -1;
        sqlite3_bind_int64(lock, 1, out[i].id);
        sqlite3_bind_int64(lock, 2, epoch(reg));
        sqlite3_bind_int64(lock, 3, now_ms + C2D_FEEDBACK_LOCK_MS);
        if (!step_done(lock))
            return -1;
    }
    return 0;
}

int c2d_feedback_take(struct registry *reg, int64_t now_ms, int64_t delay_ms, size_t max,
                      struct c2d_feedback *out, size_t *n, int64_t *next_due_ms)
{
    *n = 0;
    *next_due_ms = 0;
    if (max > C2D_FEEDBACK_BATCH_MAX)
        max = C2D_FEEDBACK_BATCH_MAX;
    int rc = REG_OK;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "begin c2d feedback take");
        goto unlock;
    }
    sqlite3_stmt *purge = rs_stmt(reg, RS_C2D_FEEDBACK_PURGE);
    if (!purge || sweep(reg, NULL, now_ms, NULL) != 0)
        goto fail;
    sqlite3_bind_int64(purge, 1, now_ms);
    sqlite3_bind_int(purge, 2, C2D_FEEDBACK_MAX_COUNT);
    sqlite3_bind_int64(purge, 3, epoch(reg));
    if (!step_done(purge))
        goto fail;
    int64_t waiting = 0, oldest = 0, expiry = 0;
    if (feedback_waiting(reg, now_ms, &waiting, &oldest) != 0 ||
        next_feedback_expiry(reg, &expiry) != 0)
        goto fail;
    if (waiting > 0 && (waiting >= C2D_FEEDBACK_BATCH_MAX || oldest + delay_ms <= now_ms)) {
        if (lock_batch(reg, now_ms, max, out, n) != 0) {
            *n = 0;
            goto fail;
        }
    } else if (waiting > 0) {
        *next_due_ms = oldest + delay_ms;
    }
    *next_due_ms = earliest(*next_due_ms, expiry);
    if (rs_commit(reg) != 0) {
        *n = 0;
        goto fail;
    }
    goto unlock;
fail:
    rc = rs_fail(reg, "c2d feedback take");
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int c2d_feedback_settle(struct registry *reg, const int64_t *ids, size_t n, enum c2d_settle outcome)
{
    if (n == 0)
        return REG_OK;
    int rc = REG_OK;
    enum rs_stmt which =
        outcome == C2D_SETTLE_RELEASE ? RS_C2D_FEEDBACK_UNLOCK : RS_C2D_FEEDBACK_DELETE;
    pthread_mutex_lock(&reg->lock);
    if (rs_begin(reg) != 0) {
        rc = rs_fail(reg, "begin c2d feedback settle");
        goto unlock;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = rs_stmt(reg, which);
        if (!st)
            goto fail;
        sqlite3_bind_int64(st, 1, ids[i]);
        if (!step_done(st))
            goto fail;
    }
    if (rs_commit(reg) == 0)
        goto unlock;
fail:
    rc = rs_fail(reg, "c2d feedback settle");
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}
