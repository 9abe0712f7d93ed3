/* Event Hubs receiver links: {entity}/ConsumerGroups/{cg}/Partitions/{p} (spec 5.4).
 * Each reads the event log on its own (a slow consumer holds no writer state), sends only
 * within link credit, and sleeps on eventlog_reader_wait when it has read everything: the
 * writer's wake-up is posted to the owning network thread's mailbox. */
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/isotime.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "hub/amqp/address.h"
#include "hub/amqp/endpoint.h"
#include "hub/amqp/internal.h"
#include "hub/hub.h"
#include "hub/net/threads.h"
#include "store/eventlog.h"
#include "store/registry.h"

#define SELECTOR_FILTER     "apache.org:selector-filter:string"
#define SELECTOR_DESCRIPTOR 0x0000468C00000004ULL
#define EPOCH_PROPERTY      "com.microsoft:epoch"

static void receiver_ref(struct amqp_receiver *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void amqp_receiver_unref(struct amqp_receiver *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        if (r->msg)
            pn_message_free(r->msg);
        free(r->buf);
        free(r);
    }
}

static bool bytes_eq(pn_bytes_t b, const char *s)
{
    return b.size == strlen(s) && memcmp(b.start, s, b.size) == 0;
}

/* Finds the selector filter in the source's filter map. Returns 1 (expr set), 0 (none) or -1
 * (present but not a string). */
static int find_selector(pn_link_t *link, pn_bytes_t *expr)
{
    pn_data_t *f = pn_terminus_filter(pn_link_remote_source(link));
    if (!f)
        return 0;
    pn_data_rewind(f);
    if (!pn_data_next(f) || pn_data_type(f) != PN_MAP)
        return 0;
    size_t n = pn_data_get_map(f);
    pn_data_enter(f);
    int rc = 0;
    for (size_t i = 0; i + 1 < n && rc == 0; i += 2) {
        if (!pn_data_next(f))
            break;
        bool key =
            (pn_data_type(f) == PN_SYMBOL && bytes_eq(pn_data_get_symbol(f), SELECTOR_FILTER));
        if (!pn_data_next(f))
            break;
        bool described = pn_data_type(f) == PN_DESCRIBED;
        bool selector = key;
        if (described) {
            pn_data_enter(f);
            pn_data_next(f);
            if (pn_data_type(f) == PN_ULONG && pn_data_get_ulong(f) == SELECTOR_DESCRIPTOR)
                selector = true;
            else if (pn_data_type(f) == PN_SYMBOL &&
                     bytes_eq(pn_data_get_symbol(f), SELECTOR_FILTER))
                selector = true;
            pn_data_next(f);
        }
        if (selector) {
            if (pn_data_type(f) == PN_STRING) {
                *expr = pn_data_get_string(f);
                rc = 1;
            } else {
                rc = -1;
            }
        }
        if (described)
            pn_data_exit(f);
    }
    pn_data_exit(f);
    return rc;
}

/* com.microsoft:epoch from the link properties: 1 (set), 0 (absent), -1 (not an integer). */
static int find_epoch(pn_link_t *link, int64_t *epoch)
{
    pn_data_t *p = pn_link_remote_properties(link);
    if (!p) /* NULL when the attach carries no properties */
        return 0;
    pn_data_rewind(p);
    if (!pn_data_next(p) || pn_data_type(p) != PN_MAP)
        return 0;
    size_t n = pn_data_get_map(p);
    pn_data_enter(p);
    int rc = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (!pn_data_next(p))
            break;
        bool key =
            (pn_data_type(p) == PN_SYMBOL && bytes_eq(pn_data_get_symbol(p), EPOCH_PROPERTY)) ||
            (pn_data_type(p) == PN_STRING && bytes_eq(pn_data_get_string(p), EPOCH_PROPERTY));
        if (!pn_data_next(p))
            break;
        if (!key)
            continue;
        rc = 1;
        switch (pn_data_type(p)) {
        case PN_LONG:
            *epoch = pn_data_get_long(p);
            break;
        case PN_INT:
            *epoch = pn_data_get_int(p);
            break;
        case PN_UINT:
            *epoch = pn_data_get_uint(p);
            break;
        case PN_ULONG:
            *epoch = (int64_t)(pn_data_get_ulong(p) & INT64_MAX);
            break;
        default:
            rc = -1;
        }
        break;
    }
    pn_data_exit(p);
    return rc;
}

/* $Default and the groups made with `iothub consumer-group create` (case-insensitive). */
static bool consumer_group_exists(const struct hub *hub, const char *cg)
{
    return registry_consumer_group_get(hub->registry, cg, NULL, 0) == REG_OK;
}

static void on_wake_mail(void *obj, uint64_t arg1, int64_t arg2)
{
    (void)arg1;
    (void)arg2;
    struct amqp_receiver *r = obj;
    if (!r->closed && r->conn) {
        struct amqp_conn *c = r->conn;
        amqp_conn_ref(c);
        amqp_receiver_pump(r);
        amqp_conn_pump(c);
        amqp_conn_unref(c);
    }
    amqp_receiver_unref(r);
}

/* On a log writer thread: hand the wake-up to the receiver's own thread. */
static void on_wake(void *ctx)
{
    struct amqp_receiver *r = ctx;
    receiver_ref(r);
    struct mail m = {on_wake_mail, r, 0, 0};
    if (mailbox_post(&r->thread->mailbox, &m) != 0) {
        log_error("lost an event log wake-up: out of memory", "partition=%u", r->partition);
        amqp_receiver_unref(r);
    }
}

static void on_steal_mail(void *obj, uint64_t arg1, int64_t arg2)
{
    (void)arg1;
    (void)arg2;
    struct amqp_receiver *r = obj;
    if (!r->closed && r->conn) {
        struct amqp_conn *c = r->conn;
        amqp_conn_ref(c);
        log_info("amqp receiver stolen by a higher owner level", "peer=%s partition=%u", c->peer,
                 r->partition);
        amqp_receiver_close(r, "amqp:link:stolen",
                            "a receiver with a higher owner level (epoch) took this partition "
                            "for the consumer group");
        amqp_conn_pump(c);
        amqp_conn_unref(c);
    }
    amqp_receiver_unref(r);
}

/* Under the owners lock, from any thread: only posts. */
static void steal(struct amqp_receiver *victim)
{
    receiver_ref(victim);
    struct mail m = {on_steal_mail, victim, 0, 0};
    if (mailbox_post(&victim->thread->mailbox, &m) != 0)
        amqp_receiver_unref(victim);
}

static struct eventlog_reader *open_reader(struct eventlog *log, uint32_t p,
                                           const struct amqp_filter *f, int *status)
{
    switch (f->start) {
    case AMQP_START_LATEST:
        return eventlog_reader_open(log, p, EVENTLOG_SEEK_END, 0, false, status);
    case AMQP_START_OFFSET:
        return eventlog_reader_open(log, p, EVENTLOG_SEEK_OFFSET, f->value, f->inclusive, status);
    case AMQP_START_SEQ:
        return eventlog_reader_open(log, p, EVENTLOG_SEEK_SEQ, f->value, f->inclusive, status);
    case AMQP_START_TIME:
        return eventlog_reader_open(log, p, EVENTLOG_SEEK_TIME, f->value, f->inclusive, status);
    default:
        return eventlog_reader_open(log, p, EVENTLOG_SEEK_START, 0, true, status);
    }
}

static void refuse(struct amqp_conn *c, pn_link_t *link, const char *address, const char *condition,
                   const char *why)
{
    char qa[300], qw[600];
    log_info("amqp receiver refused", "peer=%s address=%s condition=%s reason=%s", c->peer,
             log_quote(address, qa, sizeof(qa)), condition, log_quote(why, qw, sizeof(qw)));
    amqp_link_refuse(link, condition, why);
}

void amqp_receiver_attach(struct amqp_conn *c, pn_link_t *link, const char *address)
{
    struct amqp_endpoint *ep = c->at->ep;
    struct hub *hub = ep->hub;
    struct amqp_address a;
    amqp_address_parse(address, &a);
    char why[1024];
    uint32_t partition;
    uint32_t count = eventlog_partition_count(hub->eventlog);
    if (strcmp(a.entity, hub->hub_name) != 0) {
        snprintf(why, sizeof(why), "no event hub named '%.100s' here (its name is '%s')", a.entity,
                 hub->hub_name);
        refuse(c, link, address, "amqp:not-found", why);
        return;
    }
    if (!consumer_group_exists(hub, a.consumer_group)) {
        snprintf(why, sizeof(why),
                 "no consumer group '%.60s' in event hub '%s': create it with iothub "
                 "consumer-group create, or use $Default",
                 a.consumer_group, hub->hub_name);
        refuse(c, link, address, "amqp:not-found", why);
        return;
    }
    if (amqp_partition_parse(a.partition, count, &partition) != 0) {
        snprintf(why, sizeof(why), "no partition '%.20s' in event hub '%s' (partitions 0 to %u)",
                 a.partition, hub->hub_name, count - 1);
        refuse(c, link, address, "amqp:not-found", why);
        return;
    }
    if (!amqp_grants_cover(&c->grants, a.path, RIGHT_SERVICE_CONNECT, time_now_ms())) {
        snprintf(why, sizeof(why),
                 "no unexpired token covers sb://%.100s/%.300s: put a token of a policy with "
                 "ServiceConnect on $cbs first",
                 hub->hostname, a.path);
        refuse(c, link, address, "amqp:unauthorized-access", why);
        return;
    }
    struct amqp_filter filter = {.start = AMQP_START_EARLIEST};
    pn_bytes_t expr;
    int frc = find_selector(link, &expr);
    if (frc < 0) {
        refuse(c, link, address, "amqp:invalid-field",
               "the selector filter's value must be a string");
        return;
    }
    char ferr[300];
    if (frc == 1 && amqp_filter_parse(expr.start, expr.size, &filter, ferr, sizeof(ferr)) != 0) {
        snprintf(why, sizeof(why), "bad selector filter: %s", ferr);
        refuse(c, link, address, "amqp:invalid-field", why);
        return;
    }
    int64_t epoch = 0;
    int erc = find_epoch(link, &epoch);
    if (erc < 0) {
        refuse(c, link, address, "amqp:invalid-field",
               "the link property com.microsoft:epoch must be an integer (long)");
        return;
    }

    struct amqp_receiver *r = calloc(1, sizeof(*r));
    if (!r || !(r->msg = pn_message())) {
        free(r);
        refuse(c, link, address, "amqp:internal-error", "out of memory");
        return;
    }
    atomic_init(&r->refs, 1);
    r->thread = c->at->thread;
    r->partition = partition;
    r->has_epoch = erc == 1;
    r->epoch = epoch;
    for (size_t i = 0; a.consumer_group[i] && i + 1 < sizeof(r->consumer_group); i++)
        r->consumer_group[i] = (char)tolower((unsigned char)a.consumer_group[i]);
    str_copy(r->auth_path, sizeof(r->auth_path), a.path);

    enum amqp_admit admit = amqp_owners_admit(&ep->owners, r, steal);
    if (admit != AMQP_ADMIT_OK) {
        const char *cond = admit == AMQP_ADMIT_STOLEN ? "amqp:link:stolen"
                           : admit == AMQP_ADMIT_FULL ? "amqp:resource-limit-exceeded"
                                                      : "amqp:internal-error";
        if (admit == AMQP_ADMIT_STOLEN)
            snprintf(why, sizeof(why),
                     "a receiver with a higher owner level (epoch) reads partition %u of "
                     "consumer group '%s'",
                     partition, a.consumer_group);
        else if (admit == AMQP_ADMIT_FULL)
            snprintf(why, sizeof(why),
                     "partition %u of consumer group '%s' already has %d receivers (the limit)",
                     partition, a.consumer_group, AMQP_RECEIVERS_MAX);
        else
            snprintf(why, sizeof(why), "out of memory");
        amqp_receiver_unref(r);
        refuse(c, link, address, cond, why);
        return;
    }
    int status = 0;
    r->reader = open_reader(hub->eventlog, partition, &filter, &status);
    if (!r->reader) {
        amqp_owners_remove(&ep->owners, r);
        amqp_receiver_unref(r);
        snprintf(why, sizeof(why), "cannot read partition %u: %s", partition,
                 eventlog_strerror(status));
        refuse(c, link, address, "amqp:internal-error", why);
        return;
    }
    r->conn = c;
    r->link = link;
    r->next = c->receivers;
    if (c->receivers)
        c->receivers->prev = r;
    c->receivers = r;
    pn_link_set_context(link, r);
    pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link));
    pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link));
    pn_link_open(link);
    char qa[300];
    log_info("amqp receiver attached", "peer=%s address=%s start=%d value=%lld inclusive=%d",
             c->peer, log_quote(address, qa, sizeof(qa)), (int)filter.start,
             (long long)filter.value, (int)filter.inclusive);
    amqp_receiver_pump(r);
}

void amqp_receiver_pump(struct amqp_receiver *r)
{
    if (r->closed || !r->reader || !r->link)
        return;
    struct amqp_conn *c = r->conn;
    while (pn_link_credit(r->link) > 0) {
        if (c->bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > AMQP_OUTPUT_HIGH_WATER)
            return; /* on_write resumes once the socket has taken it */
        struct eventlog_record rec;
        int rc = eventlog_reader_next(r->reader, &rec);
        if (rc == 0) {
            eventlog_reader_wait(r->reader, on_wake, r);
            return;
        }
        char why[400];
        if (rc < 0) {
            snprintf(why, sizeof(why), "cannot read partition %u: %s %s", r->partition,
                     eventlog_strerror(rc), eventlog_reader_error(r->reader));
            log_error("amqp receiver failed", "peer=%s partition=%u", c->peer, r->partition);
            amqp_receiver_close(r, "amqp:internal-error", why);
            return;
        }
        ssize_t n = amqp_event_encode(r->msg, &rec, &r->buf, &r->buf_cap);
        if (n < 0) {
            snprintf(why, sizeof(why), "cannot encode event %llu of partition %u",
                     (unsigned long long)rec.seq, r->partition);
            amqp_receiver_close(r, "amqp:internal-error", why);
            return;
        }
        uint64_t tag = r->sent++;
        pn_delivery_t *d = pn_delivery(r->link, pn_dtag((const char *)&tag, sizeof(tag)));
        pn_link_send(r->link, r->buf, (size_t)n);
        pn_link_advance(r->link);
        pn_delivery_settle(d); /* pre-settled: the consumer checkpoints by itself */
    }
}

void amqp_receiver_close(struct amqp_receiver *r, const char *condition, const char *description)
{
    if (r->closed)
        return;
    r->closed = true;
    struct amqp_conn *c = r->conn;
    amqp_owners_remove(&c->at->ep->owners, r);
    if (r->reader) {
        eventlog_reader_close(r->reader); /* no wake-up runs after this */
        r->reader = NULL;
    }
    if (r->link) {
        pn_link_set_context(r->link, NULL);
        if (condition) {
            pn_condition_t *cond = pn_link_condition(r->link);
            pn_condition_set_name(cond, condition);
            pn_condition_set_description(cond, description);
            pn_link_close(r->link);
        }
        r->link = NULL;
    }
    if (r->prev)
        r->prev->next = r->next;
    else if (c->receivers == r)
        c->receivers = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->conn = NULL;
    amqp_receiver_unref(r);
}

void amqp_receivers_check_grants(struct amqp_conn *c, int64_t now_ms)
{
    for (struct amqp_receiver *r = c->receivers, *next; r; r = next) {
        next = r->next;
        if (!amqp_grants_cover(&c->grants, r->auth_path, RIGHT_SERVICE_CONNECT, now_ms)) {
            log_info("amqp receiver detached: its token expired", "peer=%s partition=%u", c->peer,
                     r->partition);
            amqp_receiver_close(r, "amqp:unauthorized-access",
                                "the token for this link expired: put a new token on $cbs "
                                "before the old one expires");
        }
    }
}
