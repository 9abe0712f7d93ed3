/* eh_amqp: see eh_amqp.h. Single-threaded: everything runs on the proactor's thread. */
#include "eh_amqp.h"

#include <inttypes.h>
#include <proton/codec.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/ssl.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sas.h"

#define SELECTOR_FILTER     "apache.org:selector-filter:string"
#define SELECTOR_DESCRIPTOR UINT64_C(0x0000468C00000004)
#define SETUP_TIMEOUT_MS    30000

struct eh_consumer {
    struct eh_options o;
    struct eh_callbacks cb;
    void *ctx;
    char host[320], entity[256], policy[256], key[256], addr[400];
    pn_proactor_t *proactor;
    pn_ssl_domain_t *ssl;
    pn_connection_t *conn;
    pn_session_t *ctl_session;
    pn_link_t *cbs_tx, *cbs_rx, *mgmt_tx, *mgmt_rx;
    pn_message_t *req, *reply, *event;
    pn_rwbytes_t sendbuf;
    char *recvbuf;
    size_t recvcap;
    unsigned next_id;
    struct eh_partition_info parts[EH_MAX_PARTITIONS];
    pn_link_t *links[EH_MAX_PARTITIONS];
    size_t nparts, nread, nattached;
    bool mgmt_open, ready, stopping, done, failed, timer_set;
    int64_t timer_at_ms;
};

int64_t eh_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t eh_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(struct eh_consumer *c, const char *what, pn_condition_t *cond)
{
    if (!c->failed) {
        const char *n = cond ? pn_condition_get_name(cond) : NULL;
        const char *d = cond ? pn_condition_get_description(cond) : NULL;
        fprintf(stderr, "eh: %s%s%s%s%s%s\n", what, n ? " (" : "", n ? n : "", d ? ": " : "",
                d ? d : "", n ? ")" : "");
    }
    c->failed = true;
    eh_consumer_stop(c);
}

/* Copies the value of key=...; from a connection string into out. */
static bool cs_field(const char *cs, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = cs; p && *p;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = len - kl - 1;
            if (vl >= cap)
                return false;
            memcpy(out, p + kl + 1, vl);
            out[vl] = '\0';
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

static bool map_find(pn_data_t *d, const char *key)
{
    pn_data_rewind(d);
    if (!pn_data_next(d) || pn_data_type(d) != PN_MAP)
        return false;
    size_t n = pn_data_get_map(d);
    pn_data_enter(d);
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (!pn_data_next(d))
            break;
        pn_type_t t = pn_data_type(d);
        bool hit = false;
        if (t == PN_STRING || t == PN_SYMBOL) {
            pn_bytes_t b = pn_data_get_bytes(d);
            hit = b.size == strlen(key) && memcmp(b.start, key, b.size) == 0;
        }
        if (!pn_data_next(d))
            break;
        if (hit)
            return true;
    }
    pn_data_rewind(d);
    return false;
}

static bool data_int(pn_data_t *d, int64_t *out)
{
    switch (pn_data_type(d)) {
    case PN_INT:
        *out = pn_data_get_int(d);
        return true;
    case PN_UINT:
        *out = pn_data_get_uint(d);
        return true;
    case PN_LONG:
        *out = pn_data_get_long(d);
        return true;
    case PN_ULONG:
        *out = (int64_t)pn_data_get_ulong(d);
        return true;
    case PN_TIMESTAMP:
        *out = pn_data_get_timestamp(d);
        return true;
    default:
        return false;
    }
}

bool eh_annotation_int(pn_message_t *msg, const char *key, int64_t *out)
{
    pn_data_t *ann = pn_message_annotations(msg);
    return map_find(ann, key) && data_int(ann, out);
}

static void put_pair(pn_data_t *d, const char *k, const char *v)
{
    pn_data_put_string(d, pn_bytes(strlen(k), k));
    pn_data_put_string(d, pn_bytes(strlen(v), v));
}

static void send_request(struct eh_consumer *c, pn_link_t *l)
{
    char tag[16];
    int n = snprintf(tag, sizeof(tag), "%u", c->next_id);
    pn_delivery(l, pn_dtag(tag, (size_t)n));
    if (pn_message_send(c->req, l, &c->sendbuf) < 0)
        fail(c, "cannot send a request", NULL);
    pn_message_clear(c->req);
}

static void start_request(struct eh_consumer *c, const char *reply_to)
{
    char id[32];
    snprintf(id, sizeof(id), "eh-%u", ++c->next_id);
    pn_message_clear(c->req);
    pn_message_set_inferred(c->req, false);
    pn_data_put_string(pn_message_id(c->req), pn_bytes(strlen(id), id));
    pn_message_set_reply_to(c->req, reply_to);
}

static int make_token(struct eh_consumer *c, char *out, size_t cap)
{
    char audience[600];
    snprintf(audience, sizeof(audience), "sb://%s/%s", c->host, c->entity);
    return sas_build(audience, c->key, c->policy, (int64_t)time(NULL) + 3600, out, cap) < 0 ? -1
                                                                                            : 0;
}

static void put_token(struct eh_consumer *c)
{
    char token[SAS_TOKEN_MAX], audience[600];
    if (make_token(c, token, sizeof(token)) != 0) {
        fail(c, "cannot sign a token (check the key)", NULL);
        return;
    }
    snprintf(audience, sizeof(audience), "sb://%s/%s", c->host, c->entity);
    start_request(c, "cbs-reply");
    pn_message_set_address(c->req, "$cbs");
    pn_data_t *ap = pn_message_properties(c->req);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    put_pair(ap, "operation", "put-token");
    put_pair(ap, "type", "servicebus.windows.net:sastoken");
    put_pair(ap, "name", audience);
    pn_data_exit(ap);
    pn_data_put_string(pn_message_body(c->req), pn_bytes(strlen(token), token));
    send_request(c, c->cbs_tx);
}

static void mgmt_read(struct eh_consumer *c, const char *type, const char *partition)
{
    char token[SAS_TOKEN_MAX];
    if (make_token(c, token, sizeof(token)) != 0) {
        fail(c, "cannot sign a token (check the key)", NULL);
        return;
    }
    start_request(c, "mgmt-reply");
    pn_data_t *ap = pn_message_properties(c->req);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    put_pair(ap, "operation", "READ");
    put_pair(ap, "name", c->entity);
    put_pair(ap, "type", type);
    if (partition)
        put_pair(ap, "partition", partition);
    put_pair(ap, "security_token", token);
    pn_data_exit(ap);
    pn_data_put_binary(pn_message_body(c->req), pn_bytes(2, "[]"));
    send_request(c, c->mgmt_tx);
}

static pn_link_t *open_pair_link(struct eh_consumer *c, bool sender, const char *name,
                                 const char *address, const char *reply)
{
    pn_link_t *l = sender ? pn_sender(c->ctl_session, name) : pn_receiver(c->ctl_session, name);
    if (sender) {
        pn_terminus_set_address(pn_link_target(l), address);
    } else {
        pn_terminus_set_address(pn_link_source(l), address);
        pn_terminus_set_address(pn_link_target(l), reply);
    }
    pn_link_open(l);
    if (!sender)
        pn_link_flow(l, 100);
    return l;
}

void eh_consumer_open_receivers(struct eh_consumer *c)
{
    for (size_t i = 0; i < c->nparts; i++) {
        char address[600], name[64];
        snprintf(address, sizeof(address), "%s/ConsumerGroups/%s/Partitions/%s", c->entity,
                 c->o.consumer_group, c->parts[i].id);
        snprintf(name, sizeof(name), "eh-bench-receiver-%zu", i);
        pn_session_t *s = pn_session(c->conn);
        pn_session_open(s);
        pn_link_t *l = pn_receiver(s, name);
        pn_terminus_t *src = pn_link_source(l);
        pn_terminus_set_address(src, address);
        pn_data_t *f = pn_terminus_filter(src);
        pn_data_put_map(f);
        pn_data_enter(f);
        pn_data_put_symbol(f, pn_bytes(strlen(SELECTOR_FILTER), SELECTOR_FILTER));
        pn_data_put_described(f);
        pn_data_enter(f);
        pn_data_put_ulong(f, SELECTOR_DESCRIPTOR);
        pn_data_put_string(f, pn_bytes(strlen(c->o.filter), c->o.filter));
        pn_data_exit(f);
        pn_data_exit(f);
        pn_terminus_set_address(pn_link_target(l), "eh-bench");
        pn_link_open(l);
        pn_link_flow(l, c->o.credit);
        c->links[i] = l;
    }
}

static void on_reply(struct eh_consumer *c, bool cbs)
{
    pn_data_t *ap = pn_message_properties(c->reply);
    int64_t status = -1;
    if (map_find(ap, "status-code"))
        data_int(ap, &status);
    if (status < 200 || status > 299) {
        fail(c, cbs ? "the hub refused the token" : "a management READ failed", NULL);
        return;
    }
    if (cbs) {
        if (!c->mgmt_open) {
            c->mgmt_open = true;
            c->mgmt_tx = open_pair_link(c, true, "mgmt-sender", "$management", NULL);
            c->mgmt_rx = open_pair_link(c, false, "mgmt-reply", "$management", "mgmt-reply");
            mgmt_read(c, "com.microsoft:eventhub", NULL);
        }
        return;
    }
    pn_data_t *body = pn_message_body(c->reply);
    if (c->nparts == 0) {
        if (!map_find(body, "partition_ids")) {
            fail(c, "the READ answer has no partition_ids", NULL);
            return;
        }
        bool array = pn_data_type(body) == PN_ARRAY;
        size_t n = array ? pn_data_get_array(body) : pn_data_get_list(body);
        pn_data_enter(body);
        for (size_t i = 0; i < n && pn_data_next(body) && c->nparts < EH_MAX_PARTITIONS; i++) {
            pn_bytes_t b = pn_data_get_bytes(body);
            struct eh_partition_info *p = &c->parts[c->nparts++];
            snprintf(p->id, sizeof(p->id), "%.*s", (int)b.size, b.start);
            p->begin_seq = 0;
            p->last_seq = -1;
        }
        pn_data_exit(body);
        if (c->nparts == 0) {
            fail(c, "the hub reports no partitions", NULL);
        } else if (c->o.read_partitions) {
            for (size_t i = 0; i < c->nparts; i++)
                mgmt_read(c, "com.microsoft:partition", c->parts[i].id);
        } else {
            eh_consumer_open_receivers(c);
        }
        return;
    }
    /* A partition READ. */
    char id[32] = "";
    if (map_find(body, "partition")) {
        pn_bytes_t b = pn_data_get_bytes(body);
        snprintf(id, sizeof(id), "%.*s", (int)b.size, b.start);
    }
    for (size_t i = 0; i < c->nparts; i++) {
        if (strcmp(c->parts[i].id, id) != 0)
            continue;
        if (map_find(body, "begin_sequence_number"))
            data_int(body, &c->parts[i].begin_seq);
        if (map_find(body, "last_enqueued_sequence_number"))
            data_int(body, &c->parts[i].last_seq);
    }
    if (++c->nread == c->nparts && c->cb.on_partitions)
        c->cb.on_partitions(c, c->ctx);
}

static void on_delivery(struct eh_consumer *c, pn_delivery_t *d)
{
    pn_link_t *l = pn_delivery_link(d);
    if (pn_link_is_sender(l)) {
        if (pn_delivery_remote_state(d) || pn_delivery_settled(d))
            pn_delivery_settle(d);
        return;
    }
    if (!pn_delivery_readable(d) || pn_delivery_partial(d))
        return;
    size_t size = pn_delivery_pending(d);
    if (size > c->recvcap) {
        char *g = realloc(c->recvbuf, size);
        if (!g) {
            fail(c, "out of memory", NULL);
            return;
        }
        c->recvbuf = g;
        c->recvcap = size;
    }
    ssize_t got = pn_link_recv(l, c->recvbuf, size);
    pn_link_advance(l);
    pn_delivery_settle(d);
    if (got < 0)
        return;
    if (l == c->cbs_rx || l == c->mgmt_rx) {
        pn_message_clear(c->reply);
        if (pn_message_decode(c->reply, c->recvbuf, (size_t)got) == 0)
            on_reply(c, l == c->cbs_rx);
        pn_link_flow(l, 1);
        return;
    }
    size_t part = 0;
    while (part < c->nparts && c->links[part] != l)
        part++;
    if (part == c->nparts)
        return;
    pn_message_t *msg = NULL;
    if (c->o.decode) {
        pn_message_clear(c->event);
        if (pn_message_decode(c->event, c->recvbuf, (size_t)got) == 0)
            msg = c->event;
    }
    if (!c->stopping && c->cb.on_event)
        c->cb.on_event(c, c->ctx, part, c->recvbuf, (size_t)got, msg);
    if (!c->stopping && pn_link_credit(l) < c->o.credit / 2)
        pn_link_flow(l, c->o.credit - pn_link_credit(l));
}

static void handle(struct eh_consumer *c, pn_event_t *e)
{
    switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN:
        if (!c->ctl_session) {
            c->ctl_session = pn_session(c->conn);
            pn_session_open(c->ctl_session);
            c->cbs_tx = open_pair_link(c, true, "cbs-sender", "$cbs", NULL);
            c->cbs_rx = open_pair_link(c, false, "cbs-reply", "$cbs", "cbs-reply");
            put_token(c);
        }
        break;
    case PN_LINK_REMOTE_OPEN: {
        pn_link_t *l = pn_event_link(e);
        for (size_t i = 0; i < c->nparts; i++)
            if (c->links[i] == l && pn_terminus_get_address(pn_link_remote_source(l)) &&
                ++c->nattached == c->nparts && !c->ready) {
                c->ready = true;
                if (c->cb.on_ready)
                    c->cb.on_ready(c, c->ctx);
            }
        break;
    }
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH:
        if (!c->stopping)
            fail(c, "the hub closed a link", pn_link_remote_condition(pn_event_link(e)));
        pn_link_close(pn_event_link(e));
        break;
    case PN_SESSION_REMOTE_CLOSE:
        if (!c->stopping)
            fail(c, "the hub closed a session", pn_session_remote_condition(pn_event_session(e)));
        pn_session_close(pn_event_session(e));
        break;
    case PN_CONNECTION_REMOTE_CLOSE:
        if (!c->stopping)
            fail(c, "the hub closed the connection",
                 pn_connection_remote_condition(pn_event_connection(e)));
        pn_connection_close(pn_event_connection(e));
        break;
    case PN_DELIVERY:
        on_delivery(c, pn_event_delivery(e));
        break;
    case PN_TRANSPORT_CLOSED:
        if (!c->stopping)
            fail(c, "the connection was lost", pn_transport_condition(pn_event_transport(e)));
        c->conn = NULL;
        c->stopping = true;
        break;
    case PN_PROACTOR_TIMEOUT:
        if (c->stopping) {
            pn_proactor_disconnect(c->proactor, NULL);
        } else if (!c->ready && !c->timer_set) {
            fail(c, "the endpoint did not get ready in time", NULL);
        } else if (c->timer_set) {
            c->timer_set = false;
            if (c->cb.on_timer)
                c->cb.on_timer(c, c->ctx);
        }
        break;
    case PN_PROACTOR_INACTIVE:
        c->done = true;
        break;
    default:
        break;
    }
}

void eh_consumer_set_timer(struct eh_consumer *c, int64_t ms)
{
    c->timer_set = true;
    c->timer_at_ms = eh_mono_ns() / 1000000 + ms;
}

void eh_consumer_stop(struct eh_consumer *c)
{
    if (c->stopping)
        return;
    c->stopping = true;
    c->timer_set = false;
    if (c->conn)
        pn_connection_close(c->conn);
    /* Give the hub 3 s to answer the close. */
    c->timer_at_ms = eh_mono_ns() / 1000000 + 3000;
}

size_t eh_consumer_partitions(const struct eh_consumer *c, const struct eh_partition_info **out)
{
    *out = c->parts;
    return c->nparts;
}

int eh_consumer_new(struct eh_consumer **out, const struct eh_options *o,
                    const struct eh_callbacks *cb, void *ctx)
{
    struct eh_consumer *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->o = *o;
    c->cb = *cb;
    c->ctx = ctx;
    char endpoint[300];
    if (!cs_field(o->connection_string, "Endpoint", endpoint, sizeof(endpoint)) ||
        strncmp(endpoint, "sb://", 5) != 0 ||
        !cs_field(o->connection_string, "SharedAccessKeyName", c->policy, sizeof(c->policy)) ||
        !cs_field(o->connection_string, "SharedAccessKey", c->key, sizeof(c->key)) ||
        !cs_field(o->connection_string, "EntityPath", c->entity, sizeof(c->entity))) {
        fprintf(stderr, "eh: not an Event Hubs connection string\n");
        free(c);
        return -1;
    }
    snprintf(c->host, sizeof(c->host), "%s", endpoint + 5);
    c->host[strcspn(c->host, "/:")] = '\0';
    if (!c->o.consumer_group)
        c->o.consumer_group = "$Default";
    if (c->o.port <= 0)
        c->o.port = 5671;
    if (c->o.credit <= 0)
        c->o.credit = 1000;
    *out = c;
    return 0;
}

int eh_consumer_run(struct eh_consumer *c)
{
    char port[16];
    const char *connect_host = c->o.connect_host ? c->o.connect_host : c->host;
    snprintf(port, sizeof(port), "%d", c->o.port);
    pn_proactor_addr(c->addr, sizeof(c->addr), connect_host, port);
    c->proactor = pn_proactor();
    c->req = pn_message();
    c->reply = pn_message();
    c->event = pn_message();
    c->ssl = pn_ssl_domain(PN_SSL_MODE_CLIENT);
    if (!c->proactor || !c->req || !c->reply || !c->event || !c->ssl) {
        fprintf(stderr, "eh: cannot set up Proton\n");
        return 1;
    }
    if (c->o.cafile &&
        (pn_ssl_domain_set_trusted_ca_db(c->ssl, c->o.cafile) != 0 ||
         pn_ssl_domain_set_peer_authentication(c->ssl, PN_SSL_VERIFY_PEER_NAME, NULL) != 0)) {
        fprintf(stderr, "eh: cannot load the CA file %s\n", c->o.cafile);
        return 1;
    }
    c->conn = pn_connection();
    pn_transport_t *t = pn_transport();
    pn_connection_set_container(c->conn, "eh-bench");
    pn_connection_set_hostname(c->conn, c->host);
    pn_connection_set_user(c->conn, c->policy);
    pn_sasl_allowed_mechs(pn_sasl(t), "ANONYMOUS");
    if (pn_ssl_init(pn_ssl(t), c->ssl, NULL) != 0 || pn_ssl_set_peer_hostname(pn_ssl(t), c->host)) {
        fprintf(stderr, "eh: cannot set up TLS\n");
        return 1;
    }
    pn_connection_open(c->conn);
    pn_proactor_connect2(c->proactor, c->conn, t, c->addr);
    int64_t setup_deadline = eh_mono_ns() / 1000000 + SETUP_TIMEOUT_MS;
    while (!c->done) {
        int64_t now = eh_mono_ns() / 1000000;
        if (!c->conn) {
            pn_proactor_cancel_timeout(c->proactor);
        } else {
            int64_t at = c->stopping || c->timer_set ? c->timer_at_ms
                         : !c->ready                 ? setup_deadline
                                                     : now + 60000;
            pn_proactor_set_timeout(c->proactor, (pn_millis_t)(at - now < 1 ? 1 : at - now));
        }
        pn_event_batch_t *b = pn_proactor_wait(c->proactor);
        pn_event_t *e;
        while ((e = pn_event_batch_next(b)) != NULL)
            handle(c, e);
        pn_proactor_done(c->proactor, b);
    }
    return c->failed ? 1 : 0;
}

void eh_consumer_free(struct eh_consumer *c)
{
    if (!c)
        return;
    if (c->proactor)
        pn_proactor_free(c->proactor);
    if (c->ssl)
        pn_ssl_domain_free(c->ssl);
    if (c->req)
        pn_message_free(c->req);
    if (c->reply)
        pn_message_free(c->reply);
    if (c->event)
        pn_message_free(c->event);
    free(c->sendbuf.start);
    free(c->recvbuf);
    free(c);
}
