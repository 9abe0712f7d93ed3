/* The cloud-to-device queue and the delivery-feedback queue (spec 2.8, 5.3, 6.1), kept in
 * the registry database so that a message is durable before the service's send is
 * acknowledged.
 *
 * A device's queue holds at most C2D_QUEUE_MAX live messages in enqueue order (seq).
 * Delivery takes messages out under a lock that belongs to this process (an "epoch" chosen
 * when the registry is opened): a connection that closes gives its messages back with
 * c2d_release, and after a crash or restart every lock of the old process is void, so
 * nothing acknowledged to the service is lost. The delivery count is stored when a
 * message is handed out. Expired messages are never handed out; messages over the maximum
 * delivery count are dead. Both become feedback records when the sender asked for
 * negative or full acknowledgement; completion becomes a Success record for positive or
 * full.
 *
 * Feedback records wait for the service's feedback receiver: handed out in batches of up
 * to C2D_FEEDBACK_BATCH_MAX under a 60 s lock, removed when accepted or rejected, given
 * back when released. They expire after one hour and die after 10 deliveries.
 *
 * Every function may be called from any thread (the registry serialises them). Strings
 * and buffers in out-structs are malloc'ed and released with c2d_message_free. */
#ifndef IOTHUB_STORE_C2D_STORE_H
#define IOTHUB_STORE_C2D_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/device.h"
#include "store/registry.h"

#define C2D_QUEUE_MAX          50
#define C2D_BODY_MAX           (64 * 1024)
#define C2D_TTL_DEFAULT_MS     (3600LL * 1000)
#define C2D_TTL_MAX_MS         (2LL * 24 * 3600 * 1000)
#define C2D_MAX_DELIVERY_COUNT 10
#define C2D_ID_MAX             128 /* message-id, correlation-id as text */
#define C2D_FEEDBACK_TTL_MS    (3600LL * 1000)
#define C2D_FEEDBACK_LOCK_MS   (60LL * 1000)
#define C2D_FEEDBACK_MAX_COUNT 10
#define C2D_FEEDBACK_BATCH_MAX 64
/* The device already has C2D_QUEUE_MAX messages queued. */
#define C2D_QUEUE_FULL (-10)

/* The sender's iothub-ack. */
enum c2d_ack { C2D_ACK_NONE = 0, C2D_ACK_POSITIVE = 1, C2D_ACK_NEGATIVE = 2, C2D_ACK_FULL = 3 };

/* Parses none/positive/negative/full (any case). Returns 0 or -1. */
int c2d_ack_parse(const char *s, enum c2d_ack *out);
const char *c2d_ack_name(enum c2d_ack ack);

struct c2d_message {
    int64_t seq; /* queue position, set by c2d_enqueue */
    char device_id[DEVICE_ID_MAX + 1];
    /* NULL = absent. Text as the device will see it (uuid ids already rendered). */
    char *message_id;
    char *correlation_id;
    char *user_id;
    char *content_type;
    char *content_encoding;
    bool ack_given; /* the sender set iothub-ack (then it is passed on to the device) */
    enum c2d_ack ack;
    bool expiry_given;   /* the sender set absolute-expiry-time */
    int64_t enqueued_ms; /* set by c2d_enqueue */
    int64_t expiry_ms;   /* absolute; c2d_enqueue fills in the default and caps it */
    uint32_t delivery_count;
    /* Application properties as a percent-encoded bag ("k=v&k2=v2", a bare key for a null
     * value), every byte outside A-Z a-z 0-9 - . _ ~ escaped (spec 2.8); "" when none. */
    char *app_properties;
    uint8_t *body;
    size_t body_len;
};

/* Frees the members (not m itself) and zeroes m. */
void c2d_message_free(struct c2d_message *m);

/* Queues m for m->device_id, all or nothing, and syncs it to disk before returning. Sets
 * m->seq and m->enqueued_ms, and m->expiry_ms when not given (now + 1 h; a later one is
 * capped at now + 2 days). REG_OK, REG_NOT_FOUND (no such device), C2D_QUEUE_FULL,
 * REG_STORAGE. */
int c2d_enqueue(struct registry *reg, struct c2d_message *m, int64_t now_ms);

/* Hands out up to max of the device's queued messages, oldest first, locked to this
 * process, their delivery count raised (the returned count includes this delivery). First
 * expires and kills what is due (feedback recorded). *n is how many of out[] were filled;
 * free each with c2d_message_free. *feedback_added (may be NULL) tells whether feedback
 * records were written. */
int c2d_take(struct registry *reg, const char *device_id, int64_t now_ms, size_t max,
             struct c2d_message *out, size_t *n, bool *feedback_added);

/* The device settled a delivery: the message leaves the queue (Success feedback for
 * positive/full). REG_OK, REG_NOT_FOUND (already gone), REG_STORAGE. */
int c2d_complete(struct registry *reg, int64_t seq, int64_t now_ms, bool *feedback_added);

/* Deliveries that were not settled go back to the queue; those that reached the maximum
 * delivery count die instead (DeliveryCountExceeded feedback for negative/full). */
int c2d_release(struct registry *reg, const int64_t *seqs, size_t n, int64_t now_ms,
                bool *feedback_added);

/* Live (unexpired) messages queued for the device. */
int c2d_count(struct registry *reg, const char *device_id, int64_t now_ms, int64_t *count);

/* ---- feedback ------------------------------------------------------------------------ */

enum c2d_feedback_status {
    C2D_FEEDBACK_SUCCESS = 0,
    C2D_FEEDBACK_EXPIRED = 1,
    C2D_FEEDBACK_DELIVERY_COUNT_EXCEEDED = 2,
    C2D_FEEDBACK_REJECTED = 3,
};
const char *c2d_feedback_status_name(enum c2d_feedback_status s);
const char *c2d_feedback_description(enum c2d_feedback_status s);

struct c2d_feedback {
    int64_t id;
    char original_message_id[C2D_ID_MAX + 1];
    char device_id[DEVICE_ID_MAX + 1];
    char device_generation_id[24];
    enum c2d_feedback_status status;
    int64_t enqueued_ms; /* when the outcome happened */
};

/* A batch for the service, when one is due: C2D_FEEDBACK_BATCH_MAX records are waiting,
 * or the oldest waiting record has waited delay_ms. First turns expired messages of every
 * device into feedback and drops expired or dead records. The batch (up to max <=
 * C2D_FEEDBACK_BATCH_MAX records, *n of out[]) is locked for C2D_FEEDBACK_LOCK_MS. When
 * nothing is due, *n is 0 and *next_due_ms says when to ask again (0: nothing waits and
 * no message with negative/full acknowledgement can expire). */
int c2d_feedback_take(struct registry *reg, int64_t now_ms, int64_t delay_ms, size_t max,
                      struct c2d_feedback *out, size_t *n, int64_t *next_due_ms);

enum c2d_settle { C2D_SETTLE_ACCEPT = 0, C2D_SETTLE_RELEASE = 1, C2D_SETTLE_REJECT = 2 };

/* The service settled a batch: accepted or rejected records go, released ones are waiting
 * again. */
int c2d_feedback_settle(struct registry *reg, const int64_t *ids, size_t n,
                        enum c2d_settle outcome);

#endif
