/* Feedback record parsing (see c2d_feedback.h). */
#include "c2d_feedback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEEDBACK_RECORDS_MAX 100000 /* the hosted service batches at most 64 */

static const char *member(json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : "";
}

int c2d_feedback_parse(const void *body, size_t len, struct c2d_feedback_batch *out, char *why,
                       size_t cap)
{
    json_error_t err;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        snprintf(why, cap, "the feedback body is not JSON (%s at position %d)", err.text,
                 err.position);
        return -1;
    }
    size_t n = json_is_array(root) ? json_array_size(root) : json_is_object(root) ? 1 : 0;
    if (!json_is_array(root) && !json_is_object(root)) {
        snprintf(why, cap, "the feedback body is not a JSON array of records");
        json_decref(root);
        return -1;
    }
    if (n > FEEDBACK_RECORDS_MAX) {
        snprintf(why, cap, "the feedback body holds %zu records (at most %d accepted)", n,
                 FEEDBACK_RECORDS_MAX);
        json_decref(root);
        return -1;
    }
    struct c2d_feedback_record *records = n ? calloc(n, sizeof(*records)) : NULL;
    if (n && !records) {
        snprintf(why, cap, "out of memory reading %zu feedback records", n);
        json_decref(root);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_is_array(root) ? json_array_get(root, i) : root;
        if (!json_is_object(rec)) {
            snprintf(why, cap, "feedback record %zu is not a JSON object", i);
            free(records);
            json_decref(root);
            return -1;
        }
        records[i] = (struct c2d_feedback_record){
            .original_message_id = member(rec, "originalMessageId"),
            .status_code = member(rec, "statusCode"),
            .device_id = member(rec, "deviceId"),
            .enqueued_time_utc = member(rec, "enqueuedTimeUtc"),
            .description = member(rec, "description"),
            .device_generation_id = member(rec, "deviceGenerationId"),
        };
    }
    out->root = root;
    out->records = records;
    out->count = n;
    return 0;
}

void c2d_feedback_batch_free(struct c2d_feedback_batch *b)
{
    json_decref(b->root);
    free(b->records);
    memset(b, 0, sizeof(*b));
}

json_t *c2d_feedback_record_json(const struct c2d_feedback_record *r)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "originalMessageId", r->original_message_id,
                     "statusCode", r->status_code, "deviceId", r->device_id, "enqueuedTimeUtc",
                     r->enqueued_time_utc, "description", r->description, "deviceGenerationId",
                     r->device_generation_id);
}

char *c2d_feedback_record_line(const struct c2d_feedback_record *r, char *out, size_t cap)
{
    const char *v[] = {r->original_message_id, r->status_code, r->device_id, r->enqueued_time_utc,
                       r->description};
    snprintf(out, cap, "%s  %s  %s  %s  %s", v[0][0] ? v[0] : "-", v[1][0] ? v[1] : "-",
             v[2][0] ? v[2] : "-", v[3][0] ? v[3] : "-", v[4][0] ? v[4] : "-");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return out;
}
