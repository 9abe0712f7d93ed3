/* Link attach routing and the request/reply plumbing of $cbs and $management. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "hub/amqp/address.h"
#include "hub/amqp/endpoint.h"
#include "hub/amqp/internal.h"
#include "hub/hub.h"

void amqp_link_refuse(pn_link_t *link, const char *condition, const char *description)
{
    /* Our attach carries a null terminus (we never set one), then detach with the error. */
    pn_condition_t *cond = pn_link_condition(link);
    pn_condition_set_name(cond, condition);
    pn_condition_set_description(cond, description);
    pn_link_open(link);
    pn_link_close(link);
}

static void echo_termini(pn_link_t *link)
{
    pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link));
    pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link));
}

static void log_refusal(const struct amqp_conn *c, const char *address, const char *condition,
                        const char *why)
{
    char qa[300], qw[600];
    log_info("amqp link refused", "peer=%s address=%s condition=%s reason=%s", c->peer,
             log_quote(address ? address : "", qa, sizeof(qa)), condition,
             log_quote(why, qw, sizeof(qw)));
}

void amqp_link_remote_open(struct amqp_conn *c, pn_link_t *link)
{
    const char *address = pn_link_is_sender(link)
                              ? pn_terminus_get_address(pn_link_remote_source(link))
                              : pn_terminus_get_address(pn_link_remote_target(link));
    struct amqp_address a;
    if (amqp_address_parse(address, &a) != 0) {
        amqp_link_refuse(link, "amqp:not-found", "the link has no address");
        log_refusal(c, address, "amqp:not-found", "no address");
        return;
    }
    char why[512];
    if (a.kind == AMQP_ADDR_CBS) {
        /* Anyone may talk to $cbs: that is how credentials arrive. */
        echo_termini(link);
        pn_link_open(link);
        if (pn_link_is_receiver(link))
            pn_link_flow(link, AMQP_REQUEST_CREDIT);
        return;
    }
    if (a.kind == AMQP_ADDR_MANAGEMENT) {
        char path[HUB_NAME_MAX + 16];
        snprintf(path, sizeof(path), "%s/$management", c->at->ep->hub->hub_name);
        if (!amqp_grants_cover(&c->grants, path, RIGHT_SERVICE_CONNECT, time_now_ms())) {
            snprintf(why, sizeof(why),
                     "no unexpired token covers sb://%.200s/%.200s: put a token of a policy with "
                     "ServiceConnect on $cbs first",
                     c->at->ep->hub->hostname, path);
            amqp_link_refuse(link, "amqp:unauthorized-access", why);
            log_refusal(c, address, "amqp:unauthorized-access", why);
            return;
        }
        echo_termini(link);
        pn_link_open(link);
        if (pn_link_is_receiver(link))
            pn_link_flow(link, AMQP_REQUEST_CREDIT);
        return;
    }
    if (a.kind == AMQP_ADDR_C2D || a.kind == AMQP_ADDR_FEEDBACK) {
        amqp_c2d_attach(c, link, &a);
        return;
    }
    if (a.kind == AMQP_ADDR_PARTITION && pn_link_is_sender(link)) {
        amqp_receiver_attach(c, link, address);
        return;
    }
    if (a.kind == AMQP_ADDR_PARTITION) {
        snprintf(why, sizeof(why), "the Event Hubs-compatible endpoint is read-only: %s",
                 "attach a receiver, not a sender");
        amqp_link_refuse(link, "amqp:not-allowed", why);
        log_refusal(c, address, "amqp:not-allowed", why);
        return;
    }
    snprintf(why, sizeof(why),
             "no such entity: '%.200s' (this endpoint serves $cbs, $management, "
             "messages/devicebound, messages/servicebound/feedback and "
             "%.100s/ConsumerGroups/{group}/Partitions/{id})",
             a.path, c->at->ep->hub->hub_name);
    amqp_link_refuse(link, "amqp:not-found", why);
    log_refusal(c, address, "amqp:not-found", why);
}

pn_link_t *amqp_link_find_reply(struct amqp_conn *c, pn_session_t *session, const char *source,
                                const char *prefer)
{
    pn_link_t *same_session = NULL, *any = NULL;
    for (pn_link_t *l = pn_link_head(c->driver.connection, PN_LOCAL_ACTIVE); l;
         l = pn_link_next(l, PN_LOCAL_ACTIVE)) {
        if (!pn_link_is_sender(l) || pn_link_get_context(l))
            continue;
        struct amqp_address a;
        if (amqp_address_parse(pn_terminus_get_address(pn_link_source(l)), &a) != 0 ||
            strcmp(a.path, source) != 0)
            continue;
        const char *target = pn_terminus_get_address(pn_link_target(l));
        if (prefer && (strcmp(pn_link_name(l), prefer) == 0 || (target && !strcmp(target, prefer))))
            return l;
        if (!same_session && pn_link_session(l) == session)
            same_session = l;
        if (!any)
            any = l;
    }
    return same_session ? same_session : any;
}

ssize_t amqp_message_encode(pn_message_t *msg, char **buf, size_t *cap)
{
    for (;;) {
        if (!*buf || *cap < 1024) {
            size_t want = *cap < 1024 ? 4096 : *cap;
            char *b = realloc(*buf, want);
            if (!b)
                return -1;
            *buf = b;
            *cap = want;
        }
        size_t size = *cap;
        int rc = pn_message_encode(msg, *buf, &size);
        if (rc == 0)
            return (ssize_t)size;
        if (rc != PN_OVERFLOW || *cap >= 2 * AMQP_MESSAGE_MAX)
            return -1;
        char *b = realloc(*buf, *cap * 2);
        if (!b)
            return -1;
        *buf = b;
        *cap *= 2;
    }
}

int amqp_link_send_message(struct amqp_conn *c, pn_link_t *link, pn_message_t *msg)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = amqp_message_encode(msg, &buf, &cap);
    if (n < 0) {
        free(buf);
        return -1;
    }
    uint64_t tag = c->next_tag++;
    pn_delivery_t *d = pn_delivery(link, pn_dtag((const char *)&tag, sizeof(tag)));
    pn_link_send(link, buf, (size_t)n);
    pn_link_advance(link);
    pn_delivery_settle(d);
    free(buf);
    return 0;
}

void amqp_link_delivery(struct amqp_conn *c, pn_delivery_t *d)
{
    pn_link_t *link = pn_delivery_link(d);
    struct amqp_address target;
    if (amqp_address_parse(pn_terminus_get_address(pn_link_target(link)), &target) == 0 &&
        target.kind == AMQP_ADDR_C2D) {
        amqp_c2d_delivery(c, d);
        return;
    }
    if (!pn_delivery_readable(d) || pn_delivery_partial(d)) {
        if (pn_delivery_pending(d) > AMQP_MESSAGE_MAX) {
            pn_condition_t *cond = pn_link_condition(link);
            pn_condition_set_name(cond, "amqp:link:message-size-exceeded");
            pn_condition_set_description(cond, "requests on $cbs and $management are limited "
                                               "to 1 MiB");
            pn_link_close(link);
        }
        return;
    }
    size_t size = pn_delivery_pending(d);
    char *buf = size ? malloc(size) : NULL;
    pn_message_t *msg = pn_message();
    ssize_t got = buf ? pn_link_recv(link, buf, size) : 0;
    bool decoded = msg && got > 0 && pn_message_decode(msg, buf, (size_t)got) == 0;
    pn_link_advance(link);
    if (!decoded) {
        pn_condition_t *cond = pn_disposition_condition(pn_delivery_local(d));
        pn_condition_set_name(cond, "amqp:decode-error");
        pn_condition_set_description(cond, "the request is not a valid AMQP message");
        pn_delivery_update(d, PN_REJECTED);
    } else {
        pn_delivery_update(d, PN_ACCEPTED);
    }
    pn_delivery_settle(d);
    if (decoded) {
        struct amqp_address a;
        amqp_address_parse(pn_terminus_get_address(pn_link_target(link)), &a);
        if (a.kind == AMQP_ADDR_CBS)
            amqp_cbs_request(c, link, msg);
        else if (a.kind == AMQP_ADDR_MANAGEMENT)
            amqp_management_request(c, link, msg);
    }
    if (pn_link_credit(link) < AMQP_REQUEST_CREDIT / 2)
        pn_link_flow(link, AMQP_REQUEST_CREDIT - pn_link_credit(link));
    if (msg)
        pn_message_free(msg);
    free(buf);
}
