/* The do-work device client's state, shared by the engine's two halves:
 *   device_ll.c       connection life cycle, telemetry, keep-alive, retry policies
 *   device_inbound.c  what the hub sends the device (C2D, methods, twin) and the twin requests
 *                     the device makes (GET, reported properties)
 * Internal to libiothub; iothub_device_client.h has the rules callers see. */
#ifndef IOTHUB_LIB_DEVICE_LL_H
#define IOTHUB_LIB_DEVICE_LL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "internal.h"
#include "mqtt/mqtt.h"

enum ll_state {
    ST_IDLE,         /* not connected, nothing to do (or given up) */
    ST_WAIT_RETRY,   /* not connected, next attempt at next_attempt_ms */
    ST_CONNECTING,   /* TCP / TLS in progress */
    ST_WAIT_CONNACK, /* CONNECT sent */
    ST_CONNECTED,
    ST_DRAINING, /* token renewal: waiting for in-flight PUBACKs before reconnecting */
};

/* A telemetry message waiting for its confirmation. */
struct pending {
    struct pending *next;
    char *topic;
    uint8_t *payload;
    size_t payload_len;
    iothub_send_confirmation_cb cb;
    void *ctx;
    int64_t enqueued_ms;
    uint16_t packet_id; /* non-zero while in flight on the current connection */
    bool ever_sent;
};

/* A reported-properties patch waiting for the hub's answer. */
struct reported {
    struct reported *next;
    uint32_t rid;  /* $rid of the last PUBLISH (new one per connection) */
    uint8_t *body; /* JSON object text, owned */
    size_t len;
    iothub_reported_state_cb cb;
    void *ctx;
    int64_t enqueued_ms;
    bool sent; /* published on the current connection */
};

/* Subscriptions (bit order = order of the filters in one SUBSCRIBE). */
enum {
    SUB_C2D = 1u << 0,          /* devices/{id}/messages/devicebound/#, QoS 1 */
    SUB_METHODS = 1u << 1,      /* $iothub/methods/POST/#, QoS 0 */
    SUB_TWIN_RES = 1u << 2,     /* $iothub/twin/res/#, QoS 0 */
    SUB_TWIN_DESIRED = 1u << 3, /* $iothub/twin/PATCH/properties/desired/#, QoS 0 */
    SUB_ALL = 0xf,
};

struct iothub_device_client_ll_s {
    struct iotlib_device_auth auth;
    struct iotlib_options opts;
    enum ll_state st;
    struct iotlib_conn conn;

    struct pending *head, *tail;
    size_t npending, ninflight;
    uint16_t next_packet_id;

    uint8_t *out;
    size_t out_len, out_cap;
    uint8_t *in;
    size_t in_len, in_cap;

    int64_t last_tx_ms, ping_sent_ms, connect_deadline_ms, renew_at_ms, drain_deadline_ms;
    bool ping_outstanding;
    unsigned attempt;
    int64_t retry_start_ms, next_attempt_ms;
    /* The retry policy gave up (or the hub refused the credentials): callbacks alone do not
     * start new attempts until the application sends something or sets a callback. */
    bool gave_up;

    iothub_connection_status_cb status_cb;
    void *status_ctx;
    bool status_known;
    iothub_connection_status_t status;

    /* ---- device_inbound.c ---- */
    iothub_c2d_message_cb c2d_cb;
    void *c2d_ctx;
    iothub_device_method_cb method_cb;
    void *method_ctx;
    iothub_twin_cb twin_cb;
    void *twin_ctx;
    bool twin_res_wanted; /* sticky: once twin requests were made, keep the subscription */
    unsigned sub_sent;    /* filters in a SUBSCRIBE on this connection */
    unsigned sub_granted; /* filters the hub granted (SUBACK) */
    unsigned sub_waiting; /* filters of the SUBSCRIBE whose SUBACK is outstanding */
    uint16_t sub_packet_id;

    struct reported *rep_head, *rep_tail;
    size_t nreported;
    uint32_t next_rid;
    uint32_t twin_get_rid;        /* outstanding GET on this connection, 0: none */
    int64_t twin_get_sent_ms;     /* when it was sent */
    int64_t twin_get_due_ms;      /* send a GET at or after this time; -1: no GET needed */
    bool twin_complete_delivered; /* PARTIAL updates only after a COMPLETE (as the C SDK) */
};

/* device_ll.c services for device_inbound.c. */
int iotlib_ll_out_reserve(iothub_device_client_ll_t *c, size_t extra); /* 0 or ENOMEM */
uint16_t iotlib_ll_packet_id(iothub_device_client_ll_t *c);            /* next, never 0 */
/* Appends a PUBLISH to the output buffer. Returns 0 or IOTHUB_ENOMEM / IOTHUB_EINVAL. */
int iotlib_ll_queue_publish(iothub_device_client_ll_t *c, const struct mqtt_publish *p);

/* device_inbound.c hooks, called by device_ll.c. */
void iotlib_inbound_on_connected(iothub_device_client_ll_t *c, int64_t now); /* CONNACK 0 */
void iotlib_inbound_on_closed(iothub_device_client_ll_t *c);                 /* socket closed */
void iotlib_inbound_on_publish(iothub_device_client_ll_t *c, const struct mqtt_publish *p);
void iotlib_inbound_on_suback(iothub_device_client_ll_t *c, const struct mqtt_list *codes);
/* While connected: SUBSCRIBE / UNSUBSCRIBE, the twin GET, reported patches. */
void iotlib_inbound_queue_output(iothub_device_client_ll_t *c, int64_t now);
/* Ends reported-state requests older than IOTLIB_REPORTED_TIMEOUT_MS with 408, and
 * re-sends a twin GET that got no answer. */
void iotlib_inbound_expire(iothub_device_client_ll_t *c, int64_t now);
/* Ends every reported-state request with status (give-up: 500, destroy: 408). */
void iotlib_inbound_fail_all(iothub_device_client_ll_t *c, int status);
/* True when the client has a reason to be connected besides telemetry. */
bool iotlib_inbound_wants_connection(const iothub_device_client_ll_t *c);
/* The next time expire or queue_output has something to do (-1: none). */
int64_t iotlib_inbound_deadline(const iothub_device_client_ll_t *c);
void iotlib_inbound_free(iothub_device_client_ll_t *c);

/* Statuses the client itself gives a reported-state callback (the C SDK's values). */
#define IOTLIB_REPORTED_TIMEOUT_MS (300 * 1000)
#define IOTLIB_STATUS_TIMEOUT      408 /* no answer within 300 s, or destroyed first */
#define IOTLIB_STATUS_FAILURE      500 /* the client gave up connecting */
#define IOTLIB_TWIN_GET_TIMEOUT_MS (60 * 1000)
#define IOTLIB_TWIN_GET_RETRY_MS   (10 * 1000)

#endif
