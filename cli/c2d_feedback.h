/* Delivery feedback records of cloud-to-device messages (spec 5.3): the JSON body of one
 * message from /messages/serviceBound/feedback, e.g.
 *
 *   [{"originalMessageId":"m1","enqueuedTimeUtc":"2015-07-28T16:24:48.789Z",
 *     "statusCode":"Success","description":"Success","deviceId":"dev1",
 *     "deviceGenerationId":"6359..."}]
 *
 * Pure (jansson only); the input is untrusted (fuzz/fuzz_c2d_feedback.c). */
#ifndef IOTHUB_CLI_C2D_FEEDBACK_H
#define IOTHUB_CLI_C2D_FEEDBACK_H

#include <jansson.h>
#include <stddef.h>

/* One record. Every member points into the batch's JSON and is "" when the hub left it out
 * or sent something other than a string. */
struct c2d_feedback_record {
    const char *original_message_id;
    const char *status_code; /* Success, Expired, DeliveryCountExceeded, Rejected, Purged */
    const char *device_id;
    const char *enqueued_time_utc;
    const char *description;
    const char *device_generation_id;
};

/* The records of one feedback message. Owns root and records. */
struct c2d_feedback_batch {
    json_t *root;
    struct c2d_feedback_record *records; /* malloc'ed; NULL when count is 0 */
    size_t count;
};

/* Parses a feedback body: a JSON array of record objects (a single object is taken as a batch
 * of one). Elements that are not objects are errors. Returns 0 and fills *out (free with
 * c2d_feedback_batch_free), or -1 with the reason in why (*out left empty). */
int c2d_feedback_parse(const void *body, size_t len, struct c2d_feedback_batch *out, char *why,
                       size_t cap);

void c2d_feedback_batch_free(struct c2d_feedback_batch *b);

/* The record as a new JSON object with the hub's member names (originalMessageId,
 * statusCode, deviceId, enqueuedTimeUtc, description, deviceGenerationId), for --json.
 * NULL when out of memory; the caller owns the reference. */
json_t *c2d_feedback_record_json(const struct c2d_feedback_record *r);

/* One line for people (no newline): "{originalMessageId}  {statusCode}  {deviceId}
 * {enqueuedTimeUtc}  {description}", "-" for empty members, control characters shown as
 * spaces. Returns out. */
char *c2d_feedback_record_line(const struct c2d_feedback_record *r, char *out, size_t cap);

#endif
