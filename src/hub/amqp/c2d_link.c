/* The service's C2D links (spec 5.3): attach of messages/devicebound (the service sends)
 * and messages/servicebound/feedback (handed to feedback_link.c), and each C2D transfer:
 * decoded, stored durably, and only then settled with its disposition. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "hub/amqp/address.h"
#include "hub/amqp/c2d_decode.h"
#include "hub/amqp/endpoint.h"
#include "hub/amqp/internal.h"
#include "hub/hub.h"
#include "hub/mqtt/c2d.h"

#define C2D_CREDIT 100
/* A transfer this big cannot hold a C2D message of 64 KiB: its bytes are read and dropped
 * as they arrive (bounded memory), and it is rejected when complete. */
#define C2D_TRANSFER_MAX (256 * 1024)

/* Marks (as delivery context) a transfer whose bytes were dropped. */
static char oversize_marker;

static const char *const c2d_path = "messages/devicebound";
static const char *const feedback_path = "messages/servicebound/feedback";

static void refuse(struct amqp_conn *c, pn_link_t *link, const char *address, const char *cond,
                   const char *why)
{
    char qa[300], qw[600];
    log_info("amqp link refused", "peer=%s address=%s condition=%s reason=%s", c->peer,
             log_quote(address ? address : "", qa, sizeof(qa)), cond,
             log_quote(why, qw, sizeof(qw)));
    amqp_link_refuse(link, cond, why);
}

void amqp_c2d_attach(struct amqp_conn *c, pn_link_t *link, const struct amqp_address *a)
{
    const struct hub *hub = c->at->ep->hub;
    bool c2d = a->kind == AMQP_ADDR_C2D;
    const char *path = c2d ? c2d_path : feedback_path;
    char why[512];
    /* The service sends C2D (we receive) and receives feedback (we send). */
    if (c2d != pn_link_is_receiver(link)) {
        snprintf(why, sizeof(why), "%s: attach a %s, not a %s", path, c2d ? "sender" : "receiver",
                 c2d ? "receiver" : "sender");
        refuse(c, link, a->path, "amqp:not-allowed", why);
        return;
    }
    if (!amqp_grants_cover(&c->grants, path, RIGHT_SERVICE_CONNECT, time_now_ms())) {
        snprintf(why, sizeof(why),
                 "no unexpired token covers %.200s/%s: put a token of a policy with "
                 "ServiceConnect on $cbs first",
                 hub->hostname, path);
        refuse(c, link, a->path, "amqp:unauthorized-access", why);
        return;
    }
    if (!c2d) {
        amqp_feedback_attach(c, link);
        return;
    }
    pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link));
    pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link));
    pn_link_open(link);
    pn_link_flow(link, C2D_CREDIT);
    log_info("amqp c2d sender attached", "peer=%s", c->peer);
}

/* Settles d with outcome PN_ACCEPTED, or PN_REJECTED with the condition. */
static void settle(pn_delivery_t *d, const char *condition, const char *description)
{
    if (condition) {
        pn_condition_t *cond = pn_disposition_condition(pn_delivery_local(d));
        pn_condition_set_name(cond, condition);
        pn_condition_set_description(cond, description);
        pn_delivery_update(d, PN_REJECTED);
    } else {
        pn_delivery_update(d, PN_ACCEPTED);
    }
    pn_delivery_settle(d);
}

static const char *decode_condition(enum c2d_decode_result r)
{
    switch (r) {
    case C2D_DECODE_TOO_LARGE:
        return "amqp:link:message-size-exceeded";
    case C2D_DECODE_NO_MEMORY:
        return "amqp:internal-error";
    default:
        return "com.microsoft:argument-error";
    }
}

/* Stores a decoded message. Returns NULL (stored) or the rejection condition, why set. */
static const char *store(struct amqp_conn *c, struct c2d_message *m, char *why, size_t cap)
{
    struct hub *hub = c->at->ep->hub;
    int rc = c2d_enqueue(hub->registry, m, time_now_ms());
    switch (rc) {
    case REG_OK:
        return NULL;
    case REG_NOT_FOUND:
        snprintf(why, cap, "device '%s' is not registered", m->device_id);
        return "amqp:not-found";
    case C2D_QUEUE_FULL:
        snprintf(why, cap,
                 "device '%s' already has %d cloud-to-device messages queued "
                 "(DeviceMaximumQueueDepthExceeded): wait until it receives some",
                 m->device_id, C2D_QUEUE_MAX);
        return "amqp:resource-limit-exceeded";
    default:
        snprintf(why, cap, "cannot store the message for device '%s': %s", m->device_id,
                 registry_strerror(rc));
        return "amqp:internal-error";
    }
}

/* Reads and drops the bytes a too-large transfer has brought so far. */
static void drain(pn_link_t *link, pn_delivery_t *d)
{
    char scratch[16384];
    while (pn_delivery_pending(d) > 0 && pn_link_recv(link, scratch, sizeof(scratch)) > 0)
        ;
}

void amqp_c2d_delivery(struct amqp_conn *c, pn_delivery_t *d)
{
    pn_link_t *link = pn_delivery_link(d);
    if (pn_delivery_aborted(d)) {
        drain(link, d);
        pn_link_advance(link);
        pn_delivery_settle(d);
        goto credit;
    }
    if (!pn_delivery_readable(d))
        return;
    bool oversize = pn_delivery_get_context(d) == &oversize_marker;
    if (pn_delivery_partial(d)) {
        if (oversize || pn_delivery_pending(d) > C2D_TRANSFER_MAX) {
            pn_delivery_set_context(d, &oversize_marker);
            drain(link, d);
        }
        return;
    }
    char why[512] = "";
    const char *condition = NULL;
    struct c2d_message m;
    memset(&m, 0, sizeof(m));
    bool stored = false;
    size_t size = pn_delivery_pending(d);
    if (oversize || size > C2D_TRANSFER_MAX) {
        drain(link, d);
        condition = "amqp:link:message-size-exceeded";
        snprintf(why, sizeof(why),
                 "the transfer exceeds %d bytes; cloud-to-device messages are "
                 "limited to %d bytes of body",
                 C2D_TRANSFER_MAX, C2D_BODY_MAX);
    } else {
        char *buf = malloc(size ? size : 1);
        pn_message_t *msg = pn_message();
        ssize_t got = buf ? pn_link_recv(link, buf, size) : -1;
        if (!buf || !msg || got < 0) {
            drain(link, d);
            condition = "amqp:internal-error";
            snprintf(why, sizeof(why), "out of memory reading the message");
        } else {
            enum c2d_decode_result r = amqp_c2d_decode(msg, buf, (size_t)got, &m, why, sizeof(why));
            if (r != C2D_DECODE_OK)
                condition = decode_condition(r);
            else if (!amqp_grants_cover(&c->grants, c2d_path, RIGHT_SERVICE_CONNECT,
                                        time_now_ms())) {
                condition = "amqp:unauthorized-access";
                snprintf(why, sizeof(why),
                         "the token for this link expired: put a new token on "
                         "$cbs before the old one expires");
            } else {
                condition = store(c, &m, why, sizeof(why));
                stored = condition == NULL;
            }
        }
        if (msg)
            pn_message_free(msg);
        free(buf);
    }
    pn_delivery_set_context(d, NULL);
    pn_link_advance(link);
    /* The row is committed (or nothing was stored) before the sender hears the outcome. */
    settle(d, condition, why);
    char qw[600];
    if (stored) {
        log_debug("c2d message queued", "peer=%s device=%s seq=%lld", c->peer, m.device_id,
                  (long long)m.seq);
        mqtt_c2d_notify(c->at->ep->hub, m.device_id);
    } else {
        log_info("c2d message rejected", "peer=%s device=%s condition=%s reason=%s", c->peer,
                 m.device_id[0] ? m.device_id : "-", condition, log_quote(why, qw, sizeof(qw)));
    }
    c2d_message_free(&m);
credit:
    if (pn_link_credit(link) < C2D_CREDIT / 2)
        pn_link_flow(link, C2D_CREDIT - pn_link_credit(link));
}
