/* One device MQTT connection, owned by one network thread.
 *
 * States: AWAIT_CONNECT (TLS done or under way; only CONNECT is accepted, within
 * MQTT_CONNECT_TIMEOUT_MS) -> ACTIVE (authenticated) -> CLOSED (socket gone; the struct
 * lives on while references remain). Every handler checks the state first.
 *
 * References: the owning thread holds one while the connection is open; each QoS 1 append
 * waiting for the event log holds one; each mail posted to the thread about this
 * connection holds one. The struct is freed when the last one goes, on the owning thread
 * or on whichever thread drops it last (nothing but the memory is left by then). */
#ifndef IOTHUB_HUB_MQTT_CONN_H
#define IOTHUB_HUB_MQTT_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub/auth/device_auth.h"
#include "hub/mqtt/conn_io.h"
#include "hub/net/accept.h"
#include "mqtt/mqtt.h"

struct event;
struct mqtt_thread;
struct mqtt_c2d;
struct mqtt_methods;

enum mqtt_conn_state { CONN_AWAIT_CONNECT = 0, CONN_ACTIVE = 1, CONN_CLOSED = 2 };

#define MQTT_RING_READY 0x10000u

/* Laid out for size: an idle connection is this struct and, over TLS, its SSL (see
 * conn_io.h); everything else is allocated only while in use. */
struct mqtt_conn {
    /* The socket, TLS, buffers while bytes wait, and the single deadline: connect
     * deadline, then keep-alive and token expiry, then the close-after-flush limit. */
    struct conn_io io;
    struct mqtt_thread *mt;
    atomic_int refs;
    enum mqtt_conn_state state;
    struct net_peer peer; /* for logs: mqtt_conn_peer() */
    /* Bit-fields (an idle connection is counted in bytes); written on the owning thread only. */
    bool finalized : 1;  /* socket and timer freed, unregistered; only references remain */
    bool registered : 1; /* in the device map and reported connected */
    bool tls : 1;
    bool clean_session : 1;
    bool reading_paused : 1; /* too many appends in flight, or throttled */
    bool active : 1;         /* traffic since the last presence sweep (lastActivityTime) */
    bool throttle_paused : 1;
    bool log_held : 1; /* appended with eventlog_append_held: flush at the end of the input */
    bool throttle_resumed : 1; /* the device's remembered D2C bucket was looked up */
    uint32_t partition;
    uint32_t subscriptions; /* enum mqtt_subscription bits */
    /* QoS 1 appends waiting for the event log. The log completes a partition's records in
     * append order and all of a device's records go to one partition, so the PUBACKs still
     * owed form a FIFO ring, with no allocation per message. Entries are packet ids; those
     * with MQTT_RING_READY set belong to PUBLISHes that need no log write (twin, method
     * responses) and leave as soon as every earlier entry has: PUBACKs keep PUBLISH order. */
    unsigned inflight;                        /* entries waiting for the log */
    unsigned ring_cap, ring_head, ring_count; /* ring_cap is a power of two */
    int64_t keepalive_ms;                     /* 1.5 x the client's keep-alive, capped */
    int64_t last_inbound_ms;
    int64_t last_touch_ms; /* last lastActivityTime report */
    uint32_t *pid_ring;
    /* D2C throttle (handle_publish.c, hub/throttle.h): this connection's bucket, and reading
     * held back (reading_paused) until throttle_timer fires; finalize frees the timer. */
    int64_t throttle_tat_ns;
    struct event *throttle_timer;
    struct mqtt_conn *prev, *next; /* the thread's list */
    struct mqtt_conn *map_next;    /* the device map's chain (device_map.c) */
    char *model_id; /* the CONNECT's Plug and Play model id (owned), NULL when none */
    /* Per-feature state, NULL until the feature is used; each is owned and freed by its
     * handle_*.c file (released when the connection closes). */
    struct mqtt_c2d *c2d;         /* handle_c2d.c: deliveries waiting for PUBACK */
    struct mqtt_methods *methods; /* handle_method.c: method requests sent to the device */
    struct device_identity id;    /* valid in ACTIVE; id.device_id is the device map's key */
};

void mqtt_conn_ref(struct mqtt_conn *c);
void mqtt_conn_unref(struct mqtt_conn *c);

/* The peer's address, formatted in a per-thread buffer valid until the next call. */
const char *mqtt_conn_peer(const struct mqtt_conn *c);
/* Stops reading the device (reading_paused, throttle); mqtt_conn_update_flow resumes. */
void mqtt_conn_pause_reading(struct mqtt_conn *c);
/* The TLS session (for the client certificate), or NULL (plain, or closed). */
SSL *mqtt_conn_ssl(const struct mqtt_conn *c);

/* Queues bytes for the device. */
void mqtt_conn_send(struct mqtt_conn *c, const uint8_t *data, size_t len);
/* Closes at once (output not yet written is dropped). why is logged. */
void mqtt_conn_close(struct mqtt_conn *c, const char *why);
/* Stops reading, writes what is queued (e.g. a refusing CONNACK), then closes. */
void mqtt_conn_close_after_flush(struct mqtt_conn *c, const char *why);
/* From any thread: asks the owning thread to close c. why must be a static string. */
void mqtt_conn_post_close(struct mqtt_conn *c, const char *why);

/* Accepts a new socket on the thread (TLS or plain). */
void mqtt_conn_accept(struct mqtt_thread *mt, int fd, bool tls, const char *peer);

/* Re-arms the single timer for the state's next deadline. */
void mqtt_conn_schedule_timer(struct mqtt_conn *c);

/* Packet handlers (handle_*.c). Each returns 0, or -1 after closing the connection. */
int mqtt_handle_connect(struct mqtt_conn *c, const struct mqtt_connect *p);
int mqtt_handle_publish(struct mqtt_conn *c, const struct mqtt_publish *p);
int mqtt_handle_subscribe(struct mqtt_conn *c, const struct mqtt_list *p);
int mqtt_handle_unsubscribe(struct mqtt_conn *c, const struct mqtt_list *p);

/* Whether c is the only MQTT connection of its network thread: its batches are committed
 * inline (conn.c flush_log) and the thread busy-polls for its input (net/busy_poll.h). */
bool mqtt_conn_alone(const struct mqtt_conn *c);

/* Pauses or resumes reading as the in-flight count crosses its bounds. */
void mqtt_conn_update_flow(struct mqtt_conn *c);

/* PUBACK for a device PUBLISH that needs no log write (twin requests, method responses):
 * sent now when nothing is owed before it, else queued behind the telemetry PUBACKs still
 * owed, so that PUBACKs keep PUBLISH order (handle_publish.c). Returns 0, or -1 after
 * closing the connection. */
int mqtt_conn_ack_in_order(struct mqtt_conn *c, uint16_t packet_id);

/* $iothub/twin/... publishes from the device (handle_twin.c). */
int mqtt_handle_twin(struct mqtt_conn *c, const struct mqtt_publish *p);
/* $iothub/methods/res/{status}/?$rid= publishes from the device (handle_method.c). */
int mqtt_handle_method_response(struct mqtt_conn *c, const struct mqtt_publish *p);
/* A PUBACK from the device: settles a cloud-to-device delivery (handle_c2d.c). */
int mqtt_handle_puback(struct mqtt_conn *c, uint16_t packet_id);
/* The connection became ACTIVE or took the C2D subscription: start delivering queued
 * cloud-to-device messages when the device is subscribed (handle_c2d.c). */
void mqtt_c2d_resume(struct mqtt_conn *c);
/* The connection became ACTIVE or took the desired subscription: a persistent session
 * whose desired properties changed while it was away gets them whole (handle_twin.c). */
void mqtt_twin_resume(struct mqtt_conn *c);
/* The connection is closing: unsettled deliveries go back to the queue (handle_c2d.c),
 * pending method requests are failed (handle_method.c). Free c->c2d / c->methods. */
void mqtt_c2d_release(struct mqtt_conn *c);
void mqtt_methods_release(struct mqtt_conn *c);
/* The connection is ACTIVE and subscribed to methods (after CONNACK with a stored session,
 * or on SUBSCRIBE): deliver the direct method calls waiting for the device (handle_method.c). */
void mqtt_methods_device_ready(struct mqtt_conn *c);

#endif
