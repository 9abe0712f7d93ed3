#include "hub/dump_events.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "store/eventlog.h"

static json_t *props_object(const struct eventlog_prop *props, size_t n)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < n; i++) {
        json_t *v = json_stringn(props[i].value, props[i].value_len);
        char *key = strndup(props[i].key, props[i].key_len);
        if (!v || !key || json_object_set_new(obj, key, v) != 0) {
            free(key);
            json_decref(obj);
            return NULL;
        }
        free(key);
    }
    return obj;
}

static json_t *record_json(uint32_t partition, const struct eventlog_record *rec)
{
    size_t cap = BASE64_ENCODED_SIZE(rec->body_len);
    char *b64 = malloc(cap);
    if (!b64)
        return NULL;
    base64_encode(rec->body, rec->body_len, b64, cap);
    json_t *obj = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:s}", "partition",
                            (json_int_t)partition, "seq", (json_int_t)rec->seq, "offset",
                            (json_int_t)rec->offset, "enqueued_ms", (json_int_t)rec->enqueued_ms,
                            "system", props_object(rec->system_props, rec->system_count), "app",
                            props_object(rec->app_props, rec->app_count), "body_base64", b64);
    free(b64);
    return obj;
}

int dump_events(struct eventlog *log, FILE *out)
{
    for (uint32_t p = 0; p < eventlog_partition_count(log); p++) {
        int status = 0;
        struct eventlog_reader *r =
            eventlog_reader_open(log, p, EVENTLOG_SEEK_START, 0, true, &status);
        if (!r) {
            fprintf(stderr, "iothubd: cannot read partition %u: %s\n", p,
                    eventlog_strerror(status));
            return -1;
        }
        struct eventlog_record rec;
        int rc;
        while ((rc = eventlog_reader_next(r, &rec)) == 1) {
            json_t *obj = record_json(p, &rec);
            char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
            json_decref(obj);
            if (!line) {
                eventlog_reader_close(r);
                fprintf(stderr, "iothubd: out of memory dumping partition %u\n", p);
                return -1;
            }
            fprintf(out, "%s\n", line);
            free(line);
        }
        eventlog_reader_close(r);
        if (rc < 0) {
            fprintf(stderr, "iothubd: reading partition %u failed: %s\n", p, eventlog_strerror(rc));
            return -1;
        }
    }
    return fflush(out) == 0 ? 0 : -1;
}
