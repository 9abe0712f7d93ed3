/* Reads over the whole device table: the ordered list and the statistics. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int registry_list_devices(struct registry *reg, size_t top, struct device **out, size_t *count)
{
    struct device *list = NULL;
    size_t n = 0, cap = 0;
    int rc = REG_OK, step;
    if (!out || !count)
        return REG_INVALID;
    *out = NULL;
    *count = 0;
    if (top == 0)
        return REG_OK;
    pthread_mutex_lock(&reg->lock);
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_LIST);
    if (!st) {
        rc = rs_fail(reg, "list devices");
        goto unlock;
    }
    sqlite3_bind_int64(st, 1, top > INT64_MAX ? INT64_MAX : (int64_t)top);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : (top < 64 ? top : 64);
            struct device *grown = realloc(list, ncap * sizeof(*list));
            if (!grown) {
                rc = REG_STORAGE;
                break;
            }
            list = grown;
            cap = ncap;
        }
        rs_row_to_device(st, &list[n++], NULL);
    }
    rs_done(st);
    if (rc == REG_OK && step != SQLITE_DONE)
        rc = rs_fail(reg, "list devices");
unlock:
    pthread_mutex_unlock(&reg->lock);
    if (rc != REG_OK) {
        if (list)
            explicit_bzero(list, n * sizeof(*list));
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return REG_OK;
}

int registry_statistics(struct registry *reg, struct registry_stats *out)
{
    int rc = REG_OK;
    if (!out)
        return REG_INVALID;
    pthread_mutex_lock(&reg->lock);
    sqlite3_stmt *st = rs_stmt(reg, RS_DEVICE_STATS);
    if (!st) {
        rc = rs_fail(reg, "device statistics");
        goto unlock;
    }
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->total = sqlite3_column_int64(st, 0);
        out->enabled = sqlite3_column_int64(st, 1);
        out->disabled = out->total - out->enabled;
    }
    rs_done(st);
    if (step != SQLITE_ROW)
        rc = rs_fail(reg, "device statistics");
unlock:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}
