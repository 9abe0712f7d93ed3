/* The service's feedback receiver (messages/servicebound/feedback, spec 5.3): batches of
 * delivery-feedback records, sent unsettled, settled by the service.
 *
 * Each attached link is a struct amqp_feedback owned by its connection (list
 * c->feedbacks) and also listed, under a mutex, in the process-wide set that
 * amqp_feedback_wake() walks: whoever writes feedback records (a device's PUBACK on an
 * MQTT thread) wakes every feedback link through its own thread's mailbox. A link also
 * keeps a timer for when the next batch is due (the flush delay, a message's expiry).
 *
 * References: the connection holds one while the link is open; a posted wake-up holds
 * one. Every unsettled delivery carries a struct batch (its record ids) as context, owned
 * by the link until the service settles it or the link goes (then the records are given
 * back to the queue). */
#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "common/random.h"
#include "hub/amqp/endpoint.h"
#include "hub/amqp/feedback.h"
#include "hub/amqp/internal.h"
#include "hub/hub.h"
#include "hub/net/threads.h"
#include "store/c2d_store.h"

#define FEEDBACK_CONTENT_TYPE "application/vnd.microsoft.iothub.feedback.json"
#define FEEDBACK_PATH         "messages/servicebound/feedback"
/* Batches sent per wake-up before yielding to other work on the thread. */
#define BATCHES_PER_PUMP 8

struct batch {
    pn_delivery_t *d;
    size_t n;
    int64_t ids[C2D_FEEDBACK_BATCH_MAX];
    struct batch *prev, *next;
};

struct amqp_feedback {
    atomic_int refs;
    atomic_bool wake_posted;
    struct net_thread *thread;
    struct amqp_conn *conn; /* NULL once closed */
    pn_link_t *link;        /* NULL once closed */
    struct event *timer;
    struct batch *unsettled;
    uint64_t next_tag;
    struct amqp_feedback *prev, *next;   /* the connection's list */
    struct amqp_feedback *gprev, *gnext; /* the process-wide set */
};

/* The process-wide set of open feedback links. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct amqp_feedback *all;

static void fb_ref(struct amqp_feedback *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

static void fb_unref(struct amqp_feedback *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

static struct amqp_feedback *find(struct amqp_conn *c, pn_link_t *link)
{
    for (struct amqp_feedback *f = c->feedbacks; f; f = f->next)
        if (f->link == link)
            return f;
    return NULL;
}

static struct registry *registry_of(const struct amqp_feedback *f)
{
    return f->conn->at->ep->hub->registry;
}

/* The batch as the service reads it: one data section holding a JSON array. */
static char *records_json(const struct c2d_feedback *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char when[ISOTIME_SIZE];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "originalMessageId",
                              v[i].original_message_id, "enqueuedTimeUtc",
                              isotime_format(v[i].enqueued_ms, when, sizeof(when)), "statusCode",
                              c2d_feedback_status_name(v[i].status), "description",
                              c2d_feedback_description(v[i].status), "deviceId", v[i].device_id,
                              "deviceGenerationId", v[i].device_generation_id);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return text;
}

/* Encodes and sends one batch, unsettled, with b as the delivery's context. 0 or -1. */
static int send_batch(struct amqp_feedback *f, const struct c2d_feedback *v, struct batch *b)
{
    const struct hub *hub = f->conn->at->ep->hub;
    char *json = records_json(v, b->n);
    pn_message_t *msg = pn_message();
    char id[33];
    int rc = -1;
    if (!json || !msg || random_hex32(id) != 0)
        goto out;
    char uuid[37];
    snprintf(uuid, sizeof(uuid), "%.8s-%.4s-%.4s-%.4s-%.12s", id, id + 8, id + 12, id + 16,
             id + 20);
    pn_msgid_t mid = {.type = PN_STRING};
    mid.u.as_bytes = pn_bytes(strlen(uuid), uuid);
    pn_message_set_id(msg, mid);
    pn_message_set_content_type(msg, FEEDBACK_CONTENT_TYPE);
    pn_message_set_user_id(msg, pn_bytes(strlen(hub->hub_name), hub->hub_name));
    pn_message_set_creation_time(msg, time_now_ms());
    pn_data_t *ann = pn_message_annotations(msg);
    pn_data_put_map(ann);
    pn_data_enter(ann);
    pn_data_put_symbol(ann, pn_bytes(strlen("iothub-enqueuedtime"), "iothub-enqueuedtime"));
    pn_data_put_timestamp(ann, time_now_ms());
    pn_data_exit(ann);
    pn_message_set_inferred(msg, true); /* a binary body is a data section */
    pn_data_put_binary(pn_message_body(msg), pn_bytes(strlen(json), json));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len = amqp_message_encode(msg, &buf, &cap);
    if (len >= 0) {
        uint64_t tag = f->next_tag++;
        b->d = pn_delivery(f->link, pn_dtag((const char *)&tag, sizeof(tag)));
        pn_delivery_set_context(b->d, b);
        pn_link_send(f->link, buf, (size_t)len);
        pn_link_advance(f->link);
        rc = 0;
    }
    free(buf);
out:
    if (msg)
        pn_message_free(msg);
    free(json);
    return rc;
}

static void arm_timer(struct amqp_feedback *f, int64_t due_ms, int64_t now_ms)
{
    if (!due_ms) {
        evtimer_del(f->timer);
        return;
    }
    int64_t wait = due_ms > now_ms ? due_ms - now_ms : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(f->timer, &tv);
}

static void close_link(struct amqp_feedback *f, const char *condition, const char *description);

/* Sends what credit allows and is due; arms the timer for the next due batch. */
static void pump(struct amqp_feedback *f)
{
    if (!f->link || !f->conn)
        return;
    struct amqp_conn *c = f->conn;
    if (!amqp_grants_cover(&c->grants, FEEDBACK_PATH, RIGHT_SERVICE_CONNECT, time_now_ms())) {
        close_link(f, "amqp:unauthorized-access",
                   "the token for this link expired: put a new token on $cbs before the old "
                   "one expires");
        return;
    }
    int64_t delay = c->at->ep->hub->cfg->c2d_feedback_delay_ms;
    for (int i = 0; i < BATCHES_PER_PUMP && pn_link_credit(f->link) > 0; i++) {
        struct c2d_feedback v[C2D_FEEDBACK_BATCH_MAX];
        size_t n = 0;
        int64_t now = time_now_ms(), due = 0;
        int rc = c2d_feedback_take(registry_of(f), now, delay, C2D_FEEDBACK_BATCH_MAX, v, &n, &due);
        if (rc != REG_OK) {
            arm_timer(f, now + 1000, now); /* storage trouble: try again shortly */
            return;
        }
        if (n == 0) {
            arm_timer(f, due, now);
            return;
        }
        struct batch *b = calloc(1, sizeof(*b));
        if (b) {
            b->n = n;
            for (size_t k = 0; k < n; k++)
                b->ids[k] = v[k].id;
        }
        if (!b || send_batch(f, v, b) != 0) {
            log_error("cannot send c2d feedback: out of memory", "peer=%s records=%zu", c->peer, n);
            if (b) {
                c2d_feedback_settle(registry_of(f), b->ids, b->n, C2D_SETTLE_RELEASE);
                free(b);
            }
            arm_timer(f, now + 1000, now);
            return;
        }
        log_debug("c2d feedback sent", "peer=%s records=%zu", c->peer, n);
        if (pn_link_remote_snd_settle_mode(f->link) == PN_SND_SETTLED) {
            /* The receiver asked for pre-settled deliveries: sent is done. */
            pn_delivery_set_context(b->d, NULL);
            pn_delivery_settle(b->d);
            c2d_feedback_settle(registry_of(f), b->ids, b->n, C2D_SETTLE_ACCEPT);
            free(b);
            continue;
        }
        b->next = f->unsettled;
        if (f->unsettled)
            f->unsettled->prev = b;
        f->unsettled = b;
    }
    /* Out of credit (a flow event resumes) or yielding: come back through the timer. */
    if (pn_link_credit(f->link) > 0)
        arm_timer(f, time_now_ms(), time_now_ms());
}

static void unlink_batch(struct amqp_feedback *f, struct batch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else if (f->unsettled == b)
        f->unsettled = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->prev = b->next = NULL;
}

/* The service settled (or stated an outcome for) a delivery. */
static void on_disposition(struct amqp_feedback *f, pn_delivery_t *d)
{
    struct batch *b = pn_delivery_get_context(d);
    uint64_t state = pn_delivery_remote_state(d);
    if (!b || (!state && !pn_delivery_settled(d)))
        return;
    enum c2d_settle outcome = C2D_SETTLE_ACCEPT; /* settled without a state: accepted */
    if (state == PN_REJECTED)
        outcome = C2D_SETTLE_REJECT;
    else if (state == PN_RELEASED || state == PN_MODIFIED)
        outcome = C2D_SETTLE_RELEASE;
    if (c2d_feedback_settle(registry_of(f), b->ids, b->n, outcome) != REG_OK)
        log_warn("cannot settle c2d feedback; the records will be sent again", "records=%zu", b->n);
    unlink_batch(f, b);
    pn_delivery_set_context(d, NULL);
    pn_delivery_settle(d);
    free(b);
    if (outcome == C2D_SETTLE_RELEASE)
        pump(f);
}

/* Gives every unsettled batch back to the queue. */
static void release_unsettled(struct amqp_feedback *f)
{
    struct registry *reg = f->conn ? registry_of(f) : NULL;
    while (f->unsettled) {
        struct batch *b = f->unsettled;
        unlink_batch(f, b);
        if (reg && c2d_feedback_settle(reg, b->ids, b->n, C2D_SETTLE_RELEASE) != REG_OK)
            log_warn("cannot release c2d feedback; it is sent again after its lock expires",
                     "records=%zu", b->n);
        if (b->d)
            pn_delivery_set_context(b->d, NULL);
        free(b);
    }
}

/* Closes our side (with condition, or NULL when the peer closed it) and drops the
 * connection's reference. */
static void close_link(struct amqp_feedback *f, const char *condition, const char *description)
{
    struct amqp_conn *c = f->conn;
    if (!c)
        return;
    release_unsettled(f);
    if (f->timer) {
        event_free(f->timer);
        f->timer = NULL;
    }
    pthread_mutex_lock(&all_lock);
    if (f->gprev)
        f->gprev->gnext = f->gnext;
    else if (all == f)
        all = f->gnext;
    if (f->gnext)
        f->gnext->gprev = f->gprev;
    f->gprev = f->gnext = NULL;
    pthread_mutex_unlock(&all_lock);
    if (f->link && condition) {
        pn_condition_t *cond = pn_link_condition(f->link);
        pn_condition_set_name(cond, condition);
        pn_condition_set_description(cond, description);
        pn_link_close(f->link);
    }
    f->link = NULL;
    if (f->prev)
        f->prev->next = f->next;
    else if (c->feedbacks == f)
        c->feedbacks = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
    f->conn = NULL;
    fb_unref(f);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct amqp_feedback *f = arg;
    struct amqp_conn *c = f->conn;
    if (!c)
        return;
    amqp_conn_ref(c);
    pump(f);
    amqp_conn_pump(c);
    amqp_conn_unref(c);
}

void amqp_feedback_attach(struct amqp_conn *c, pn_link_t *link)
{
    struct amqp_feedback *f = calloc(1, sizeof(*f));
    if (f)
        f->timer = evtimer_new(c->at->thread->base, on_timer, f);
    if (!f || !f->timer) {
        free(f);
        amqp_link_refuse(link, "amqp:internal-error", "out of memory");
        return;
    }
    atomic_init(&f->refs, 1);
    atomic_init(&f->wake_posted, false);
    f->thread = c->at->thread;
    f->conn = c;
    f->link = link;
    f->next = c->feedbacks;
    if (c->feedbacks)
        c->feedbacks->prev = f;
    c->feedbacks = f;
    pthread_mutex_lock(&all_lock);
    f->gnext = all;
    if (all)
        all->gprev = f;
    all = f;
    pthread_mutex_unlock(&all_lock);
    pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link));
    pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link));
    pn_link_open(link);
    log_info("amqp feedback receiver attached", "peer=%s", c->peer);
    pump(f);
}

bool amqp_feedback_event(struct amqp_conn *c, pn_event_t *e)
{
    if (!c->feedbacks)
        return false;
    switch (pn_event_type(e)) {
    case PN_LINK_FLOW: {
        struct amqp_feedback *f = find(c, pn_event_link(e));
        if (!f)
            return false;
        pump(f);
        return true;
    }
    case PN_DELIVERY: {
        pn_delivery_t *d = pn_event_delivery(e);
        struct amqp_feedback *f = find(c, pn_delivery_link(d));
        if (!f)
            return false;
        on_disposition(f, d);
        return true;
    }
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH:
    case PN_LINK_FINAL: {
        struct amqp_feedback *f = find(c, pn_event_link(e));
        if (f)
            close_link(f, NULL, NULL);
        return false; /* conn.c finishes the link's close */
    }
    case PN_SESSION_REMOTE_CLOSE: {
        pn_session_t *s = pn_event_session(e);
        for (struct amqp_feedback *f = c->feedbacks, *next; f; f = next) {
            next = f->next;
            if (f->link && pn_link_session(f->link) == s)
                close_link(f, NULL, NULL);
        }
        return false;
    }
    default:
        return false;
    }
}

void amqp_feedback_close_all(struct amqp_conn *c)
{
    while (c->feedbacks)
        close_link(c->feedbacks, NULL, NULL);
}

static void on_wake_mail(void *obj, uint64_t arg1, int64_t arg2)
{
    (void)arg1;
    (void)arg2;
    struct amqp_feedback *f = obj;
    atomic_store(&f->wake_posted, false);
    struct amqp_conn *c = f->conn;
    if (c) {
        amqp_conn_ref(c);
        pump(f);
        amqp_conn_pump(c);
        amqp_conn_unref(c);
    }
    fb_unref(f);
}

void amqp_feedback_wake(void)
{
    pthread_mutex_lock(&all_lock);
    for (struct amqp_feedback *f = all; f; f = f->gnext) {
        if (atomic_exchange(&f->wake_posted, true))
            continue; /* one wake-up is already on its way */
        fb_ref(f);
        struct mail m = {on_wake_mail, f, 0, 0};
        if (mailbox_post(&f->thread->mailbox, &m) != 0) {
            atomic_store(&f->wake_posted, false);
            fb_unref(f);
        }
    }
    pthread_mutex_unlock(&all_lock);
}
