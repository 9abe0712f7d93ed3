/* Internal types of the AMQP endpoint, shared by its files.
 *
 * Ownership:
 * - struct amqp_thread: one per network thread; lists its live connections.
 * - struct amqp_conn: one per TCP connection, on one thread. It owns the bufferevent, the
 *   Proton driver (and with it every Proton object of the connection), its grants and its
 *   receivers. References: the thread holds one while open; every mail about the
 *   connection holds one.
 * - struct amqp_receiver: one per Event Hubs receiver link. The connection holds one
 *   reference while the link is open; a pending log wake-up mail or steal mail holds one.
 *   The owners table points to it without a reference, only while it is admitted (it is
 *   removed before the connection drops its reference). */
#ifndef IOTHUB_HUB_AMQP_INTERNAL_H
#define IOTHUB_HUB_AMQP_INTERNAL_H

#include <proton/connection_driver.h>
#include <proton/engine.h>
#include <proton/message.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hub/amqp/filter.h"
#include "hub/amqp/grants.h"
#include "hub/amqp/owners.h"
#include "hub/amqp/sasl.h"

struct amqp_endpoint;
struct bufferevent;
struct event;
struct evconnlistener;
struct eventlog_reader;
struct hub;
struct net_thread;

#define AMQP_IDLE_TIMEOUT_MS   240000 /* advertised in our open */
#define AMQP_OPEN_TIMEOUT_MS   30000  /* header, SASL and open must be done by then */
#define AMQP_MESSAGE_MAX       (1024 * 1024)
#define AMQP_REQUEST_CREDIT    100 /* credit we give on $cbs and $management */
#define AMQP_OUTPUT_HIGH_WATER (4 * 1024 * 1024)

struct amqp_thread {
    struct net_thread *thread;
    struct amqp_endpoint *ep;
    struct evconnlistener *tls_listener;
    struct evconnlistener *plain_listener;
    struct amqp_conn *conns;
};

struct amqp_conn {
    atomic_int refs;
    struct amqp_thread *at;
    struct bufferevent *bev;
    struct event *timer;
    bool tls;
    bool closing;   /* no more input; closes once the output is written */
    bool finalized; /* socket, driver and timer freed; only references remain */
    bool driver_ready;
    bool opened; /* the peer's open arrived */
    bool in_pump;
    bool pump_again;
    char peer[64];
    char why[256]; /* why it is closing (logged once) */
    struct amqp_sasl sasl;
    pn_connection_driver_t driver;
    struct amqp_grants grants;
    int64_t accepted_ms;
    uint64_t next_tag; /* delivery tags of replies */
    struct amqp_receiver *receivers;
    struct amqp_feedback *feedbacks; /* feedback_link.c: open feedback links */
    struct amqp_conn *prev, *next;
};

struct amqp_receiver {
    atomic_int refs;
    struct net_thread *thread; /* immutable: where mail about it goes */
    struct amqp_conn *conn;    /* NULL once closed */
    pn_link_t *link;           /* NULL once closed */
    struct eventlog_reader *reader;
    bool closed;
    bool admitted; /* in the owners table */
    bool has_epoch;
    int64_t epoch;
    uint32_t partition;
    char consumer_group[AMQP_CG_MAX]; /* lower-case */
    char auth_path[512];              /* what a grant must cover to keep the link */
    uint64_t sent;
    pn_message_t *msg; /* reused per event */
    char *buf;         /* encoding buffer */
    size_t buf_cap;
    struct amqp_receiver *prev, *next; /* the connection's list */
};

/* conn.c */
void amqp_conn_accept(struct amqp_thread *at, int fd, bool tls, const char *peer);
void amqp_conn_ref(struct amqp_conn *c);
void amqp_conn_unref(struct amqp_conn *c);
/* Runs Proton's events, writes its output, re-arms the timer. Re-entrant calls are folded
 * into the running one. */
void amqp_conn_pump(struct amqp_conn *c);
/* Closes at once; why is logged. */
void amqp_conn_close(struct amqp_conn *c, const char *why);

/* link.c: a peer attach (PN_LINK_REMOTE_OPEN). */
void amqp_link_remote_open(struct amqp_conn *c, pn_link_t *link);
/* Refuses a link: null terminus in our attach, then detach with the condition. */
void amqp_link_refuse(pn_link_t *link, const char *condition, const char *description);
/* A readable, complete delivery on one of our receiving links ($cbs, $management). */
void amqp_link_delivery(struct amqp_conn *c, pn_delivery_t *d);
/* Sends msg pre-settled on link. Returns 0 or -1. */
int amqp_link_send_message(struct amqp_conn *c, pn_link_t *link, pn_message_t *msg);
/* Our sending link in `session` (or, failing that, on the connection) whose source address
 * is `source`, preferring one whose name or target is `prefer` (may be NULL). */
pn_link_t *amqp_link_find_reply(struct amqp_conn *c, pn_session_t *session, const char *source,
                                const char *prefer);

/* cbs.c and management.c: one decoded request on their link. */
void amqp_cbs_request(struct amqp_conn *c, pn_link_t *link, pn_message_t *req);
void amqp_management_request(struct amqp_conn *c, pn_link_t *link, pn_message_t *req);
/* Reads application property `key` of msg as a string into out. Returns 0 or -1. */
int amqp_app_prop(pn_message_t *msg, const char *key, char *out, size_t cap);
/* Sets correlation-id, to and status application properties of a reply. */
void amqp_reply_status(pn_message_t *req, pn_message_t *resp, int status, const char *description,
                       const char *condition);

/* receiver.c */
void amqp_receiver_attach(struct amqp_conn *c, pn_link_t *link, const char *address);
/* Sends what credit allows; arms a log wake-up at the end. */
void amqp_receiver_pump(struct amqp_receiver *r);
/* Closes the link with condition (NULL: the peer closed it), releases the reader. */
void amqp_receiver_close(struct amqp_receiver *r, const char *condition, const char *description);
void amqp_receiver_unref(struct amqp_receiver *r);
/* Detaches receivers whose grant has expired. */
void amqp_receivers_check_grants(struct amqp_conn *c, int64_t now_ms);

/* c2d_link.c: the service's messages/devicebound (C2D sends) and
 * messages/servicebound/feedback links (spec 5.3). */
struct amqp_address;
void amqp_c2d_attach(struct amqp_conn *c, pn_link_t *link, const struct amqp_address *a);
/* A delivery on a messages/devicebound link (partial ones included). */
void amqp_c2d_delivery(struct amqp_conn *c, pn_delivery_t *d);
/* feedback_link.c */
struct amqp_feedback;
void amqp_feedback_attach(struct amqp_conn *c, pn_link_t *link);
/* Flow, dispositions and closes of feedback links. Returns true when the event is fully
 * handled (conn.c must not look at it). */
bool amqp_feedback_event(struct amqp_conn *c, pn_event_t *e);
/* The connection is going: unsettled feedback goes back to the queue. */
void amqp_feedback_close_all(struct amqp_conn *c);

/* event_encode.c: a log record as an Event Hubs event. Returns the encoded size, or -1. */
struct eventlog_record;
ssize_t amqp_event_encode(pn_message_t *msg, const struct eventlog_record *rec, char **buf,
                          size_t *cap);
/* pn_message_encode into a growing buffer. */
ssize_t amqp_message_encode(pn_message_t *msg, char **buf, size_t *cap);

#endif
