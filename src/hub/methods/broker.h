/* The direct-method broker: one struct method_call per pending POST /twins/{id}/methods,
 * shared by the REST thread that holds the HTTP request (its "home") and the network
 * thread of the device's MQTT connection, plus the list of calls waiting for their device
 * to come online (connectTimeoutInSeconds > 0).
 *
 * Flow (spec 2.9, 3.6):
 *   home (rest/methods.c)   validates, creates the call, arms its timer, puts it on the
 *                           waiting list when it may wait, offers it to the device's live
 *                           connection (mqtt_methods_offer);
 *   device thread           (handle_method.c) claims the call and publishes the request,
 *                           keeping rid -> call in the connection's own table; or, when the
 *                           device is not reachable, reports METHOD_NOT_ONLINE;
 *   device comes online     its thread takes the waiting calls of the device and delivers
 *                           them (mqtt_methods_device_ready);
 *   answer / disconnect     the device thread posts an outcome to the home thread's mailbox;
 *   home                    replies once (answer, timeout, not online) and seals the call.
 *
 * Claims: exactly one party moves a call out of METHOD_CALL_OPEN, by compare-and-swap:
 * a device thread to DELIVERED (it sends the request), or the home thread to CLOSED (it
 * answers without the device). Once sealed by its home, a call is never posted to the
 * home thread again, so its mailbox may go away at shutdown.
 *
 * References (atomic; the call is freed by whoever drops the last, on any thread): the home
 * thread holds one until it seals the call; the waiting list holds one per entry; each mail
 * about the call holds one; each entry of a connection's rid table holds one. */
#ifndef IOTHUB_HUB_METHODS_BROKER_H
#define IOTHUB_HUB_METHODS_BROKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/device.h"

struct hub;
struct net_thread;

/* Limits of the hosted service (spec 6.1). */
#define METHOD_PAYLOAD_MAX          (128 * 1024) /* request and response payload, bytes */
#define METHOD_RESPONSE_TIMEOUT_MIN 5
#define METHOD_RESPONSE_TIMEOUT_MAX 300
#define METHOD_RESPONSE_TIMEOUT_DEF 30
#define METHOD_CONNECT_TIMEOUT_MAX  300

enum method_claim { METHOD_CALL_OPEN = 0, METHOD_CALL_DELIVERED = 1, METHOD_CALL_CLOSED = 2 };

enum method_outcome_kind {
    METHOD_ANSWERED,       /* the device answered: status, payload */
    METHOD_NOT_ONLINE,     /* not connected or not subscribed (connect timeout 0) */
    METHOD_DISCONNECTED,   /* the connection closed while the call waited for the answer */
    METHOD_ANSWER_TOO_BIG, /* the device's payload exceeds METHOD_PAYLOAD_MAX */
    METHOD_SEND_FAILED,    /* the hub could not send the request (out of memory) */
};

/* What a device thread reports to the home thread. Allocated by the poster with
 * method_outcome_new, owned by the mail, freed by the home thread. */
struct method_outcome {
    enum method_outcome_kind kind;
    int status;
    size_t payload_len;
    char payload[]; /* the device's bytes, payload_len of them, then a NUL */
};

struct method_call;
/* Runs on the home thread for each outcome posted; takes ownership of out. */
typedef void (*method_outcome_fn)(struct method_call *call, struct method_outcome *out);

struct method_call {
    atomic_int refs;
    /* Set at creation, then read-only (any thread). */
    char device_id[DEVICE_ID_MAX + 1];
    char *method_name; /* NUL-terminated, method_name_valid */
    char *payload;     /* JSON text sent to the device ("null" at least), NUL-terminated */
    size_t payload_len;
    int64_t response_timeout_ms;
    int64_t connect_timeout_ms; /* 0: answer DeviceNotOnline at once */
    struct net_thread *home;
    method_outcome_fn on_outcome;
    /* Home thread only: its own state of the call (rest/methods.c), NULL once sealed. */
    void *home_ctx;
    /* Cross-thread. */
    atomic_int claim;          /* enum method_claim */
    atomic_llong delivered_ms; /* when the request was sent; 0 until stored after the claim */
    pthread_mutex_t lock;      /* orders posts to home against sealing */
    bool sealed;               /* under lock: the home thread is done with the call */
    /* Waiting list links, under the list's lock. */
    struct method_call *wait_prev, *wait_next;
    bool waiting;
};

/* A call with one reference (the home thread's). Copies name and payload. NULL when out of
 * memory. */
struct method_call *method_call_new(const char *device_id, const char *method_name,
                                    const char *payload, size_t payload_len,
                                    int64_t response_timeout_ms, int64_t connect_timeout_ms,
                                    struct net_thread *home, method_outcome_fn on_outcome,
                                    void *home_ctx);
void method_call_ref(struct method_call *call);
void method_call_unref(struct method_call *call);

/* Device thread: OPEN -> DELIVERED (records now as the delivery time). False when another
 * party claimed the call first. */
bool method_call_claim_delivery(struct method_call *call, int64_t now_ms);
/* Any thread: OPEN -> CLOSED. Returns the state found (OPEN means this caller closed it). */
enum method_claim method_call_close(struct method_call *call);

/* Device thread: posts out (not NULL) to the home thread, unless the call is sealed. Takes
 * ownership of out (freed here when not posted). When the mailbox is out of memory the
 * outcome is lost and logged; the call then ends by its timer. */
void method_call_post(struct method_call *call, struct method_outcome *out);
/* Home thread: no more posts after this; closes the claim if still open. */
void method_call_seal(struct method_call *call);

/* An outcome with a copy of payload[0..len). NULL when out of memory. */
struct method_outcome *method_outcome_new(enum method_outcome_kind kind, int status,
                                          const void *payload, size_t len);

/* The waiting list: calls whose device may still come online. Any thread. */
/* Adds call (a reference is taken). */
void method_waiters_add(struct method_call *call);
/* Removes call if listed (its reference is dropped). */
void method_waiters_remove(struct method_call *call);
/* Moves every call waiting for device_id into an array (references move with them).
 * Returns the count; *out is malloc'ed (caller frees), NULL when none. On allocation
 * failure returns 0 and leaves the calls listed. */
size_t method_waiters_take(const char *device_id, struct method_call ***out);

/* Device side (handle_method.c). Offers call to the device's live MQTT connection, if any:
 * returns true when a connection was found (it will deliver the call or, when the device
 * is not subscribed and the call may not wait, post METHOD_NOT_ONLINE); false when the
 * device has no live connection or MQTT is off. */
bool mqtt_methods_offer(struct hub *hub, struct method_call *call);

#endif
