/* libFuzzer target: the JSON body of a C2D feedback message (spec 5.3), which
 * `iothub c2d feedback` reads from the hub (cli/c2d_feedback.c, compiled in here: the CLI is
 * an executable, not a library).
 *
 * Besides "no crash, no sanitizer report": a parsed batch has a non-NULL string for every
 * member of every record, its JSON form dumps, and its line for people holds no control
 * characters. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/c2d_feedback.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct c2d_feedback_batch b;
    char why[256];
    if (c2d_feedback_parse(data, size, &b, why, sizeof(why)) != 0) {
        check(why[0] != '\0' && b.root == NULL && b.records == NULL && b.count == 0);
        return 0;
    }
    for (size_t i = 0; i < b.count; i++) {
        const struct c2d_feedback_record *r = &b.records[i];
        check(r->original_message_id && r->status_code && r->device_id && r->enqueued_time_utc &&
              r->description && r->device_generation_id);
        json_t *j = c2d_feedback_record_json(r);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        check(text != NULL);
        free(text);
        json_decref(j);
        char line[512];
        c2d_feedback_record_line(r, line, sizeof(line));
        for (const char *p = line; *p; p++)
            check((unsigned char)*p >= 0x20 && *p != 0x7f);
    }
    c2d_feedback_batch_free(&b);
    return 0;
}
