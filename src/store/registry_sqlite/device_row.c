/* Reads one row of RS_DEVICE_COLUMNS into a struct device. */
#include <string.h>

#include "common/strbuf.h"
#include "internal.h"

static const char *column_text(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return s ? s : "";
}

void rs_row_to_device(sqlite3_stmt *st, struct device *out, int64_t *version)
{
    memset(out, 0, sizeof(*out));
    int64_t v = sqlite3_column_int64(st, 2);
    str_copy(out->device_id, sizeof(out->device_id), column_text(st, 0));
    str_copy(out->generation_id, sizeof(out->generation_id), column_text(st, 1));
    rs_etag_format(v, out->etag, sizeof(out->etag));
    out->enabled = sqlite3_column_int(st, 3) != 0;
    out->has_status_reason = sqlite3_column_type(st, 4) != SQLITE_NULL;
    str_copy(out->status_reason, sizeof(out->status_reason), column_text(st, 4));
    out->status_updated_ms = sqlite3_column_int64(st, 5);
    int type = device_auth_type_parse(column_text(st, 6));
    out->auth_type = type < 0 ? DEVICE_AUTH_NONE : (enum device_auth_type)type;
    str_copy(out->primary_key, sizeof(out->primary_key), column_text(st, 7));
    str_copy(out->secondary_key, sizeof(out->secondary_key), column_text(st, 8));
    str_copy(out->primary_thumbprint, sizeof(out->primary_thumbprint), column_text(st, 9));
    str_copy(out->secondary_thumbprint, sizeof(out->secondary_thumbprint), column_text(st, 10));
    out->connected = sqlite3_column_int(st, 11) != 0;
    out->connection_state_updated_ms = sqlite3_column_int64(st, 12);
    out->last_activity_ms = sqlite3_column_int64(st, 13);
    out->c2d_message_count = sqlite3_column_int64(st, 16); /* RS_DEVICE_C2D_COUNT */
    out->iot_edge = sqlite3_column_int(st, 14) != 0;
    str_copy(out->device_scope, sizeof(out->device_scope), column_text(st, 15));
    if (version)
        *version = v;
}
