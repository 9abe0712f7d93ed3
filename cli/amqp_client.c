/* The CLI's blocking AMQP client of the IoT hub endpoint (see amqp_client.h).
 *
 * Conversation (spec 5.1-5.3, as Node azure-iothub): TLS (SNI and name check = host), the
 * plain AMQP header (no SASL layer: the transport is created without pn_sasl and the
 * connection has no user), open with hostname = host, one session; CBS sender -> "$cbs" and
 * receiver <- "$cbs" whose target and our reply-to are the same random name; put-token of
 * `SharedAccessSignature sr={host}&sig=..&se=..&skn={policy}` (key bytes = base64-decoded key)
 * for audience {host}, which covers every service link the policy allows (put again every 45
 * minutes: the hub detaches links whose token expired); then the command's links on the same
 * session.
 *
 * Each public call loops on pn_proactor_wait until its predicate holds, a failure was
 * recorded, or its deadline passed (the proactor timer wakes the loop). */
#include "amqp_client.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/proactor.h>
#include <proton/session.h>
#include <proton/ssl.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "common/isotime.h"
#include "common/random.h"
#include "common/sas.h"
#include "common/strbuf.h"

#define TOKEN_LIFETIME_S 3600    /* se = now + 1 h, as Node azure-iothub */
#define TOKEN_RENEW_MS   2700000 /* put a new token every 45 minutes, as Node */
#define CLOSE_GRACE_MS   3000    /* wait for the hub's close at most this long */
#define IDLE_TIMEOUT_MS  60000
#define MAX_LINKS        8
#define CBS_CREDIT       10
#define MESSAGE_MAX      (16u << 20) /* larger incoming messages are refused */

/* What the client knows about one of its links. */
struct link_state {
    pn_link_t *link;
    bool attached; /* the hub attached it with a terminus */
    bool closed;   /* the hub detached or closed it */
    char condition[128];
    char description[512];
};

/* A whole message read off a receiver, waiting for amqp_client_receive. */
struct inbound {
    pn_delivery_t *delivery;
    pn_link_t *link;
    char *bytes; /* malloc'ed, owned until handed to amqp_client_receive */
    size_t len;
    uint64_t id;
    struct inbound *next;
};

struct amqp_client {
    char host[CLI_HOST_MAX];
    char addr[CLI_HOST_MAX + 16];
    int64_t step_timeout_ms;
    pn_proactor_t *proactor;
    pn_ssl_domain_t *ssl;
    pn_connection_t *conn; /* NULL once the proactor freed it */
    pn_session_t *session;
    pn_link_t *cbs_sender, *cbs_receiver;
    char cbs_name[64];
    char cbs_request_id[64];
    int64_t cbs_status; /* -1 until the put-token reply came */
    char policy[CLI_HOST_MAX];
    char *key;           /* the policy key, strdup'ed; wiped and freed by amqp_client_close */
    int64_t renew_at_ms; /* 0 until the first token was accepted */
    bool renewing;       /* a renewal's reply is awaited */
    char cbs_description[256];
    struct link_state links[MAX_LINKS];
    size_t nlinks;
    struct inbound *inbox, *inbox_tail; /* received, not yet taken */
    struct inbound *taken;              /* taken, not yet settled */
    uint64_t next_inbound_id;
    uint64_t next_tag;
    pn_rwbytes_t sendbuf;
    bool connected; /* pn_proactor_connect2 was called */
    bool remote_open, closing, done, failed;
    int rc;
};

/* ---------------------------------------------------------------------------------------
 * Failures */

static void fail(struct amqp_client *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first failure and prints it; later ones are consequences and stay silent. */
static void fail(struct amqp_client *c, int rc, const char *fmt, ...)
{
    if (c->failed)
        return;
    va_list ap;
    c->failed = true;
    c->rc = rc;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static void condition_copy(pn_condition_t *cond, char *name, size_t name_cap, char *desc,
                           size_t desc_cap)
{
    const char *n = cond && pn_condition_is_set(cond) ? pn_condition_get_name(cond) : NULL;
    const char *d = cond && pn_condition_is_set(cond) ? pn_condition_get_description(cond) : NULL;
    str_copy(name, name_cap, n ? n : "");
    str_copy(desc, desc_cap, d ? d : "");
    sanitize(name);
    sanitize(desc);
}

/* "name: description", "name" or "no reason given", for messages. */
static const char *condition_text(const char *name, const char *desc, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s", name[0] ? name : "no reason given", desc[0] ? ": " : "", desc);
    return out;
}

int amqp_client_exit_for_condition(const char *condition)
{
    static const struct {
        const char *name;
        int rc;
    } map[] = {
        {"amqp:unauthorized-access", CLI_EXIT_UNAUTHORIZED},
        {"amqp:not-found", CLI_EXIT_NOT_FOUND},
        {"amqp:resource-limit-exceeded", CLI_EXIT_CONFLICT},
        {"amqp:link:message-size-exceeded", CLI_EXIT_BAD_REQUEST},
        {"com.microsoft:argument-error", CLI_EXIT_BAD_REQUEST},
        {"com.microsoft:argument-out-of-range", CLI_EXIT_BAD_REQUEST},
        {"amqp:invalid-field", CLI_EXIT_BAD_REQUEST},
        {"amqp:decode-error", CLI_EXIT_BAD_REQUEST},
    };
    for (size_t i = 0; condition && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(condition, map[i].name) == 0)
            return map[i].rc;
    return CLI_EXIT_ERROR;
}

/* ---------------------------------------------------------------------------------------
 * Links */

static struct link_state *state_of(struct amqp_client *c, pn_link_t *l)
{
    for (size_t i = 0; i < c->nlinks; i++)
        if (c->links[i].link == l)
            return &c->links[i];
    return NULL;
}

static void random_name(const char *prefix, char *out, size_t cap)
{
    char hex[33] = "0";
    random_hex32(hex);
    snprintf(out, cap, "%s-%s", prefix, hex);
}

static pn_link_t *new_link(struct amqp_client *c, bool sender, const char *address)
{
    char name[64];
    if (c->nlinks == MAX_LINKS)
        return NULL;
    random_name(sender ? "iothub-cli-sender" : "iothub-cli-receiver", name, sizeof(name));
    pn_link_t *l = sender ? pn_sender(c->session, name) : pn_receiver(c->session, name);
    if (!l)
        return NULL;
    pn_terminus_set_address(sender ? pn_link_target(l) : pn_link_source(l), address);
    c->links[c->nlinks++] = (struct link_state){.link = l};
    return l;
}

static void close_link(pn_link_t *l)
{
    if (l && !(pn_link_state(l) & PN_LOCAL_CLOSED))
        pn_link_close(l);
}

/* ---------------------------------------------------------------------------------------
 * CBS put-token */

/* The policy token for the audience host (sr = host, as Node azure-iothub signs it). */
static int policy_token(const struct amqp_client *c, char *out, size_t cap)
{
    int64_t expiry = (int64_t)time(NULL) + TOKEN_LIFETIME_S;
    return sas_build(c->host, c->key, c->policy, expiry, out, cap) < 0 ? -1 : 0;
}

static int exit_for_status(int64_t status)
{
    return status == 401 || status == 403 ? CLI_EXIT_UNAUTHORIZED
           : status == 404                ? CLI_EXIT_NOT_FOUND
           : status == 400                ? CLI_EXIT_BAD_REQUEST
                                          : CLI_EXIT_ERROR;
}

static void put_string_pair(pn_data_t *d, const char *k, const char *v)
{
    pn_data_put_string(d, pn_bytes(strlen(k), k));
    pn_data_put_string(d, pn_bytes(strlen(v), v));
}

/* Encodes msg into a new delivery on sender. Returns the delivery or NULL. */
static pn_delivery_t *send_message(struct amqp_client *c, pn_link_t *sender, pn_message_t *msg)
{
    char tag[24];
    int n = snprintf(tag, sizeof(tag), "%" PRIu64, c->next_tag++);
    pn_delivery_t *d = pn_delivery(sender, pn_dtag(tag, (size_t)n));
    ssize_t sent = pn_message_send(msg, sender, &c->sendbuf);
    if (c->sendbuf.start)
        OPENSSL_cleanse(c->sendbuf.start, c->sendbuf.size); /* it may hold a token */
    return sent < 0 ? NULL : d;
}

static int cbs_put_token(struct amqp_client *c)
{
    char token[SAS_TOKEN_MAX];
    if (policy_token(c, token, sizeof(token)) != 0) {
        fprintf(stderr,
                "error: cannot sign a token with the key of policy '%s' (check the "
                "connection string's SharedAccessKey)\n",
                c->policy);
        return CLI_EXIT_USAGE;
    }
    pn_message_t *msg = pn_message();
    if (!msg) {
        OPENSSL_cleanse(token, sizeof(token));
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    random_name("iothub-cli-cbs", c->cbs_request_id, sizeof(c->cbs_request_id));
    pn_message_set_inferred(msg, false);
    pn_data_put_string(pn_message_id(msg), pn_bytes(strlen(c->cbs_request_id), c->cbs_request_id));
    pn_message_set_address(msg, "$cbs");
    pn_message_set_reply_to(msg, c->cbs_name);
    pn_data_t *ap = pn_message_properties(msg);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    put_string_pair(ap, "operation", "put-token");
    put_string_pair(ap, "type", "servicebus.windows.net:sastoken");
    put_string_pair(ap, "name", c->host);
    pn_data_exit(ap);
    pn_data_put_string(pn_message_body(msg), pn_bytes(strlen(token), token));
    OPENSSL_cleanse(token, sizeof(token));
    pn_delivery_t *d = send_message(c, c->cbs_sender, msg);
    pn_data_clear(pn_message_body(msg)); /* drop Proton's copy of the token */
    pn_message_free(msg);
    if (!d) {
        fprintf(stderr, "error: cannot encode the CBS put-token request\n");
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

bool amqp_data_int(pn_data_t *d, int64_t *out)
{
    switch (pn_data_type(d)) {
    case PN_UBYTE:
        *out = pn_data_get_ubyte(d);
        return true;
    case PN_BYTE:
        *out = pn_data_get_byte(d);
        return true;
    case PN_USHORT:
        *out = pn_data_get_ushort(d);
        return true;
    case PN_SHORT:
        *out = pn_data_get_short(d);
        return true;
    case PN_UINT:
        *out = pn_data_get_uint(d);
        return true;
    case PN_INT:
        *out = pn_data_get_int(d);
        return true;
    case PN_ULONG:
        *out = (int64_t)pn_data_get_ulong(d);
        return true;
    case PN_LONG:
        *out = pn_data_get_long(d);
        return true;
    case PN_TIMESTAMP:
        *out = pn_data_get_timestamp(d);
        return true;
    default:
        return false;
    }
}

bool amqp_data_text(pn_data_t *d, char *out, size_t cap)
{
    pn_type_t t = pn_data_type(d);
    if (t != PN_STRING && t != PN_SYMBOL && t != PN_BINARY)
        return false;
    pn_bytes_t b = pn_data_get_bytes(d);
    size_t n = b.size < cap - 1 ? b.size : cap - 1;
    memcpy(out, b.start, n);
    out[n] = '\0';
    return true;
}

/* The CBS reply: status-code and status-description of our request. */
static void on_cbs_reply(struct amqp_client *c, pn_message_t *msg)
{
    char id[128] = "";
    pn_data_t *cid = pn_message_correlation_id(msg);
    pn_data_rewind(cid);
    if (!pn_data_next(cid) || !amqp_data_text(cid, id, sizeof(id)) ||
        strcmp(id, c->cbs_request_id) != 0)
        return; /* not the answer to our request */
    int64_t status = 0;
    char desc[256] = "";
    pn_data_t *ap = pn_message_properties(msg);
    pn_data_rewind(ap);
    if (pn_data_next(ap) && pn_data_type(ap) == PN_MAP) {
        size_t n = pn_data_get_map(ap);
        pn_data_enter(ap);
        for (size_t i = 0; i + 1 < n; i += 2) {
            char key[64] = "";
            if (!pn_data_next(ap))
                break;
            amqp_data_text(ap, key, sizeof(key));
            if (!pn_data_next(ap))
                break;
            if (strcmp(key, "status-code") == 0)
                amqp_data_int(ap, &status);
            else if (strcmp(key, "status-description") == 0)
                amqp_data_text(ap, desc, sizeof(desc));
        }
        pn_data_exit(ap);
    }
    sanitize(desc);
    c->cbs_status = status;
    str_copy(c->cbs_description, sizeof(c->cbs_description), desc);
    if (c->renewing) {
        c->renewing = false;
        if (status < 200 || status > 299)
            fail(c, exit_for_status(status),
                 "the hub refused the renewed token of policy '%s' (CBS status %" PRId64 "%s%s)",
                 c->policy, status, desc[0] ? ": " : "", desc);
    }
}

/* ---------------------------------------------------------------------------------------
 * Events */

static void start_close(struct amqp_client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (!c->conn) {
        pn_proactor_disconnect(c->proactor, NULL);
        return;
    }
    for (size_t i = 0; i < c->nlinks; i++)
        close_link(c->links[i].link);
    close_link(c->cbs_sender);
    close_link(c->cbs_receiver);
    if (c->session && !(pn_session_state(c->session) & PN_LOCAL_CLOSED))
        pn_session_close(c->session);
    if (!(pn_connection_state(c->conn) & PN_LOCAL_CLOSED))
        pn_connection_close(c->conn);
}

/* Copies a whole incoming message off its link (the bytes must be read while the delivery
 * is the link's current one) and queues it, or answers a CBS reply at once. */
static void on_incoming(struct amqp_client *c, pn_delivery_t *d)
{
    pn_link_t *l = pn_delivery_link(d);
    if (!pn_delivery_readable(d) || pn_delivery_partial(d))
        return; /* wait for the whole message */
    size_t size = pn_delivery_pending(d);
    char *bytes = size <= MESSAGE_MAX ? malloc(size ? size : 1) : NULL;
    ssize_t got = bytes ? pn_link_recv(l, bytes, size) : -1;
    pn_link_advance(l);
    if (got < 0 || (size_t)got != size) {
        free(bytes);
        pn_delivery_update(d, PN_REJECTED);
        pn_delivery_settle(d);
        fprintf(stderr, "warning: a %zu-byte message from the hub could not be read; rejected\n",
                size);
        return;
    }
    if (l == c->cbs_receiver) {
        pn_message_t *msg = pn_message();
        if (msg && pn_message_decode(msg, bytes, size) == 0)
            on_cbs_reply(c, msg);
        pn_message_free(msg);
        free(bytes);
        pn_delivery_update(d, PN_ACCEPTED);
        pn_delivery_settle(d);
        if (!c->closing && pn_link_credit(l) < CBS_CREDIT / 2)
            pn_link_flow(l, CBS_CREDIT - pn_link_credit(l));
        return;
    }
    struct inbound *in = calloc(1, sizeof(*in));
    if (!in) {
        free(bytes);
        pn_delivery_update(d, PN_RELEASED);
        pn_delivery_settle(d);
        fail(c, CLI_EXIT_ERROR, "out of memory receiving a message");
        return;
    }
    *in = (struct inbound){
        .delivery = d, .link = l, .bytes = bytes, .len = size, .id = ++c->next_inbound_id};
    if (c->inbox_tail)
        c->inbox_tail->next = in;
    else
        c->inbox = in;
    c->inbox_tail = in;
}

static void on_link_remote_open(struct amqp_client *c, pn_link_t *l)
{
    struct link_state *s = state_of(c, l);
    if (!s)
        return;
    /* A refused attach comes back with a null terminus and the detach with the reason in
     * the same write; attach() looks at both after the whole batch. Accepting attaches
     * without an echoed terminus keeps peers that omit it working. */
    s->attached = true;
}

static void on_link_remote_close(struct amqp_client *c, pn_link_t *l)
{
    struct link_state *s = state_of(c, l);
    if (s) {
        s->closed = true;
        condition_copy(pn_link_remote_condition(l), s->condition, sizeof(s->condition),
                       s->description, sizeof(s->description));
    } else if (!c->closing && (l == c->cbs_sender || l == c->cbs_receiver)) {
        char name[128], desc[512], why[700];
        condition_copy(pn_link_remote_condition(l), name, sizeof(name), desc, sizeof(desc));
        fail(c,
             amqp_client_exit_for_condition(name) == CLI_EXIT_UNAUTHORIZED ? CLI_EXIT_UNAUTHORIZED
                                                                           : CLI_EXIT_ERROR,
             "the hub closed the $cbs link (%s)", condition_text(name, desc, why, sizeof(why)));
    }
    close_link(l);
}

static void on_transport_closed(struct amqp_client *c, pn_event_t *e)
{
    if (!c->closing) {
        char name[128], desc[512], why[700];
        condition_copy(pn_transport_condition(pn_event_transport(e)), name, sizeof(name), desc,
                       sizeof(desc));
        condition_text(name, desc, why, sizeof(why));
        if (!c->remote_open)
            fail(c, CLI_EXIT_UNREACHABLE,
                 "cannot reach the hub's AMQP endpoint %s (%s); check the host, the port and the "
                 "CA file (--cafile)",
                 c->addr, why);
        else
            fail(c, CLI_EXIT_UNREACHABLE, "the connection to %s was lost (%s)", c->addr, why);
    }
    c->closing = true;
    c->conn = NULL; /* the proactor frees it */
}

static void handle(struct amqp_client *c, pn_event_t *e)
{
    char name[128], desc[512], why[700];
    switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN:
        c->remote_open = true;
        break;
    case PN_LINK_REMOTE_OPEN:
        on_link_remote_open(c, pn_event_link(e));
        break;
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH:
        on_link_remote_close(c, pn_event_link(e));
        break;
    case PN_SESSION_REMOTE_CLOSE:
        if (!c->closing) {
            condition_copy(pn_session_remote_condition(pn_event_session(e)), name, sizeof(name),
                           desc, sizeof(desc));
            fail(c, amqp_client_exit_for_condition(name), "the hub ended the session (%s)",
                 condition_text(name, desc, why, sizeof(why)));
        }
        start_close(c);
        break;
    case PN_CONNECTION_REMOTE_CLOSE:
        if (!c->closing) {
            condition_copy(pn_connection_remote_condition(pn_event_connection(e)), name,
                           sizeof(name), desc, sizeof(desc));
            fail(c, amqp_client_exit_for_condition(name), "the hub closed the connection (%s)",
                 condition_text(name, desc, why, sizeof(why)));
        }
        start_close(c);
        break;
    case PN_DELIVERY: {
        pn_delivery_t *d = pn_event_delivery(e);
        if (!pn_link_is_sender(pn_delivery_link(d)))
            on_incoming(c, d);
        /* Sender deliveries: their remote state is read by the waiting call. */
        break;
    }
    case PN_TRANSPORT_CLOSED:
        on_transport_closed(c, e);
        break;
    case PN_PROACTOR_INACTIVE:
        c->done = true;
        break;
    default:
        break;
    }
}

typedef bool (*until_fn)(struct amqp_client *c, const void *arg);

/* Runs the proactor until until(c, arg) holds (CLI_EXIT_OK), a failure is recorded (its exit
 * code), the connection is gone (CLI_EXIT_ERROR, unless recorded) or deadline_ms passes
 * (AMQP_CLIENT_TIMED_OUT). */
static int run_until(struct amqp_client *c, until_fn until, const void *arg, int64_t deadline_ms)
{
    /* The caller may have changed the connection outside an event batch (opened links,
     * sent, settled): a wake makes the proactor process it and write what is pending. Only
     * this thread runs the proactor, so nothing else touches the connection meanwhile. */
    if (c->conn && !c->done)
        pn_connection_wake(c->conn);
    for (;;) {
        if (until(c, arg))
            return CLI_EXIT_OK;
        if (c->failed)
            return c->rc;
        if (c->done || !c->conn)
            return CLI_EXIT_ERROR;
        int64_t now = time_now_ms();
        if (c->renew_at_ms && now >= c->renew_at_ms && !c->closing) {
            /* The hub detaches our links when the token expires: put a new one. */
            c->renew_at_ms = now + TOKEN_RENEW_MS;
            c->renewing = true;
            if (cbs_put_token(c) != CLI_EXIT_OK)
                return CLI_EXIT_ERROR;
            pn_connection_wake(c->conn);
        }
        int64_t wait = deadline_ms - now;
        if (wait <= 0)
            return AMQP_CLIENT_TIMED_OUT;
        if (c->renew_at_ms && c->renew_at_ms - now < wait)
            wait = c->renew_at_ms - now > 0 ? c->renew_at_ms - now : 1;
        /* pn_millis_t is 32 bits: long waits go in hour-long slices. */
        pn_proactor_set_timeout(c->proactor, (pn_millis_t)(wait < 3600000 ? wait : 3600000));
        pn_event_batch_t *batch = pn_proactor_wait(c->proactor);
        pn_event_t *e;
        while ((e = pn_event_batch_next(batch)) != NULL)
            handle(c, e);
        pn_proactor_done(c->proactor, batch);
    }
}

/* ---------------------------------------------------------------------------------------
 * Opening */

int amqp_tls_domain(const char *cafile, pn_ssl_domain_t **out)
{
    *out = NULL;
    pn_ssl_domain_t *d = pn_ssl_domain(PN_SSL_MODE_CLIENT);
    if (!d) {
        fprintf(stderr, "error: Proton was built without TLS support\n");
        return CLI_EXIT_ERROR;
    }
    const char *trust = cafile ? cafile : X509_get_default_cert_file();
    if (pn_ssl_domain_set_trusted_ca_db(d, trust) != 0) {
        fprintf(stderr, "error: cannot load the CA file '%s' (a PEM file of certificates)\n",
                trust);
        pn_ssl_domain_free(d);
        return cafile ? CLI_EXIT_USAGE : CLI_EXIT_ERROR;
    }
    if (pn_ssl_domain_set_peer_authentication(d, PN_SSL_VERIFY_PEER_NAME, NULL) != 0) {
        fprintf(stderr, "error: cannot enable TLS peer verification\n");
        pn_ssl_domain_free(d);
        return CLI_EXIT_ERROR;
    }
    *out = d;
    return CLI_EXIT_OK;
}

void amqp_condition_describe(pn_condition_t *cond, char *out, size_t cap)
{
    char name[128], desc[512];
    condition_copy(cond, name, sizeof(name), desc, sizeof(desc));
    snprintf(out, cap, "%s%s%s", name[0] ? name : "no condition", desc[0] ? ": " : "", desc);
}

static bool remote_opened(struct amqp_client *c, const void *arg)
{
    (void)arg;
    return c->remote_open;
}

static bool cbs_answered(struct amqp_client *c, const void *arg)
{
    (void)arg;
    return c->cbs_status >= 0;
}

/* The handshake and the token, until the hub accepts it. */
static int authenticate(struct amqp_client *c)
{
    int64_t deadline = time_now_ms() + c->step_timeout_ms;
    int rc = run_until(c, remote_opened, NULL, deadline);
    if (rc == AMQP_CLIENT_TIMED_OUT) {
        fprintf(stderr, "error: the hub's AMQP endpoint %s did not answer within %" PRId64 " s\n",
                c->addr, c->step_timeout_ms / 1000);
        return CLI_EXIT_UNREACHABLE;
    }
    if (rc != CLI_EXIT_OK)
        return rc;
    c->session = pn_session(c->conn);
    pn_session_open(c->session);
    random_name("iothub-cli-cbs-sender", c->cbs_name, sizeof(c->cbs_name));
    c->cbs_sender = pn_sender(c->session, c->cbs_name);
    pn_terminus_set_address(pn_link_target(c->cbs_sender), "$cbs");
    pn_link_open(c->cbs_sender);
    random_name("cbs", c->cbs_name, sizeof(c->cbs_name));
    c->cbs_receiver = pn_receiver(c->session, c->cbs_name);
    pn_terminus_set_address(pn_link_source(c->cbs_receiver), "$cbs");
    pn_terminus_set_address(pn_link_target(c->cbs_receiver), c->cbs_name);
    pn_link_open(c->cbs_receiver);
    pn_link_flow(c->cbs_receiver, CBS_CREDIT);
    c->cbs_status = -1;
    rc = cbs_put_token(c);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = run_until(c, cbs_answered, NULL, deadline);
    if (rc == AMQP_CLIENT_TIMED_OUT) {
        fprintf(stderr, "error: the hub did not answer the CBS put-token within %" PRId64 " s\n",
                c->step_timeout_ms / 1000);
        return CLI_EXIT_UNREACHABLE;
    }
    if (rc != CLI_EXIT_OK)
        return rc;
    if (c->cbs_status < 200 || c->cbs_status > 299) {
        int64_t st = c->cbs_status;
        fprintf(stderr,
                "error: the hub refused the token of policy '%s' (CBS status %" PRId64 "%s%s); "
                "check the connection string's key and that the policy has ServiceConnect\n",
                c->policy, st, c->cbs_description[0] ? ": " : "", c->cbs_description);
        return exit_for_status(st);
    }
    c->renew_at_ms = time_now_ms() + TOKEN_RENEW_MS;
    return CLI_EXIT_OK;
}

int amqp_client_open(const struct amqp_client_options *o, struct amqp_client **out)
{
    *out = NULL;
    struct amqp_client *c = calloc(1, sizeof(*c));
    if (!c) {
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    c->step_timeout_ms = o->step_timeout_ms > 0 ? o->step_timeout_ms : AMQP_CLIENT_STEP_TIMEOUT_MS;
    c->cbs_status = -1;
    const char *bare = o->host;
    char unbracketed[CLI_HOST_MAX];
    if (o->host[0] == '[') { /* pn_proactor_addr wants an IPv6 literal without brackets */
        size_t n = strlen(o->host);
        str_copy_n(unbracketed, sizeof(unbracketed), o->host + 1, n >= 2 ? n - 2 : 0);
        bare = unbracketed;
    }
    char port[24]; /* any long, so that -Wformat-truncation has nothing to say */
    snprintf(port, sizeof(port), "%ld", o->port > 0 ? o->port : AMQP_CLIENT_PORT);
    if (!str_copy(c->host, sizeof(c->host), o->host) ||
        !str_copy(c->policy, sizeof(c->policy), o->policy)) {
        fprintf(stderr, "error: the host name or the policy name is too long\n");
        free(c);
        return CLI_EXIT_USAGE;
    }
    c->key = strdup(o->key);
    if (!c->key) {
        fprintf(stderr, "error: out of memory\n");
        free(c);
        return CLI_EXIT_ERROR;
    }
    pn_proactor_addr(c->addr, sizeof(c->addr), bare, port);

    int rc = amqp_tls_domain(o->cafile, &c->ssl);
    if (rc != CLI_EXIT_OK) {
        amqp_client_close(c);
        return rc;
    }
    c->proactor = pn_proactor();
    c->conn = pn_connection();
    pn_transport_t *t = pn_transport();
    if (!c->proactor || !c->conn || !t) {
        fprintf(stderr, "error: out of memory\n");
        if (c->conn)
            pn_connection_free(c->conn);
        c->conn = NULL;
        if (t)
            pn_transport_free(t);
        amqp_client_close(c);
        return CLI_EXIT_ERROR;
    }
    char container[64];
    random_name("iothub-cli", container, sizeof(container));
    pn_connection_set_container(c->conn, container);
    pn_connection_set_hostname(c->conn, c->host);
    /* No pn_sasl() and no user: Proton sends the plain AMQP header (spec 5.1, as Node). */
    pn_transport_set_idle_timeout(t, IDLE_TIMEOUT_MS);
    if (pn_ssl_init(pn_ssl(t), c->ssl, NULL) != 0 || pn_ssl_set_peer_hostname(pn_ssl(t), bare)) {
        fprintf(stderr, "error: cannot set up TLS\n");
        pn_connection_free(c->conn);
        c->conn = NULL;
        pn_transport_free(t);
        amqp_client_close(c);
        return CLI_EXIT_ERROR;
    }
    pn_connection_open(c->conn);
    pn_proactor_connect2(c->proactor, c->conn, t, c->addr);
    c->connected = true;
    rc = authenticate(c);
    if (rc != CLI_EXIT_OK) {
        amqp_client_close(c);
        return rc;
    }
    *out = c;
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------------------------------
 * Links and transfers */

static bool link_settled_attach(struct amqp_client *c, const void *arg)
{
    const struct link_state *s = state_of(c, (pn_link_t *)arg);
    return !s || s->attached || s->closed;
}

static int attach(struct amqp_client *c, bool sender, const char *address, int credit,
                  pn_link_t **out)
{
    *out = NULL;
    pn_link_t *l = new_link(c, sender, address);
    if (!l) {
        fprintf(stderr, "error: cannot create a link to '%s'\n", address);
        return CLI_EXIT_ERROR;
    }
    pn_link_open(l);
    if (!sender)
        pn_link_flow(l, credit > 0 ? credit : 1);
    int rc = run_until(c, link_settled_attach, l, time_now_ms() + c->step_timeout_ms);
    if (rc == AMQP_CLIENT_TIMED_OUT) {
        fprintf(stderr, "error: the hub did not attach the link to '%s' within %" PRId64 " s\n",
                address, c->step_timeout_ms / 1000);
        return CLI_EXIT_UNREACHABLE;
    }
    if (rc != CLI_EXIT_OK)
        return rc;
    struct link_state *s = state_of(c, l);
    if (!s->attached || s->closed) {
        char why[700];
        condition_text(s->condition, s->description, why, sizeof(why));
        int code = amqp_client_exit_for_condition(s->condition) == CLI_EXIT_UNAUTHORIZED
                       ? CLI_EXIT_UNAUTHORIZED
                       : CLI_EXIT_ERROR;
        fprintf(stderr, "error: the hub refused a %s link %s '%s' (%s)\n",
                sender ? "sender" : "receiver", sender ? "to" : "from", address, why);
        return code;
    }
    *out = l;
    return CLI_EXIT_OK;
}

int amqp_client_attach_sender(struct amqp_client *c, const char *address, pn_link_t **out)
{
    return attach(c, true, address, 0, out);
}

int amqp_client_attach_receiver(struct amqp_client *c, const char *address, int credit,
                                pn_link_t **out)
{
    return attach(c, false, address, credit, out);
}

struct send_wait {
    pn_delivery_t *delivery;
    pn_link_t *link;
};

static bool outcome_known(struct amqp_client *c, const void *arg)
{
    const struct send_wait *w = arg;
    const struct link_state *s = state_of(c, w->link);
    return pn_delivery_remote_state(w->delivery) != 0 || pn_delivery_settled(w->delivery) ||
           (s && s->closed);
}

int amqp_client_send(struct amqp_client *c, pn_link_t *sender, pn_message_t *msg,
                     struct amqp_outcome *out)
{
    memset(out, 0, sizeof(*out));
    struct send_wait w = {.link = sender};
    w.delivery = send_message(c, sender, msg);
    if (!w.delivery) {
        fprintf(stderr, "error: cannot encode the message\n");
        return CLI_EXIT_ERROR;
    }
    int rc = run_until(c, outcome_known, &w, time_now_ms() + c->step_timeout_ms);
    if (rc == AMQP_CLIENT_TIMED_OUT) {
        fprintf(stderr,
                "error: the hub did not settle the message within %" PRId64
                " s; it may or may not have been queued\n",
                c->step_timeout_ms / 1000);
        return CLI_EXIT_UNREACHABLE;
    }
    if (rc != CLI_EXIT_OK)
        return rc;
    uint64_t state = pn_delivery_remote_state(w.delivery);
    if (state) {
        out->state = state;
        condition_copy(pn_disposition_condition(pn_delivery_remote(w.delivery)), out->condition,
                       sizeof(out->condition), out->description, sizeof(out->description));
        pn_delivery_settle(w.delivery);
        return CLI_EXIT_OK;
    }
    /* Settled without a state, or the link closed first. */
    const struct link_state *s = state_of(c, sender);
    if (pn_delivery_settled(w.delivery) && !(s && s->closed)) {
        out->state = PN_ACCEPTED; /* settled by the hub with no outcome: taken */
        pn_delivery_settle(w.delivery);
        return CLI_EXIT_OK;
    }
    char why[700];
    str_copy(out->condition, sizeof(out->condition), s ? s->condition : "");
    str_copy(out->description, sizeof(out->description), s ? s->description : "");
    fprintf(stderr, "error: the hub closed the link before settling the message (%s)\n",
            condition_text(out->condition, out->description, why, sizeof(why)));
    return amqp_client_exit_for_condition(out->condition);
}

static bool has_inbound(struct amqp_client *c, const void *arg)
{
    const struct link_state *s = state_of(c, (pn_link_t *)arg);
    for (struct inbound *in = c->inbox; in; in = in->next)
        if (in->link == arg)
            return true;
    return s && s->closed;
}

int amqp_client_receive(struct amqp_client *c, pn_link_t *receiver, int64_t wait_ms,
                        struct amqp_received *out)
{
    memset(out, 0, sizeof(*out));
    int rc = run_until(c, has_inbound, receiver, time_now_ms() + wait_ms);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct inbound **pp = &c->inbox, *prev = NULL;
    while (*pp && (*pp)->link != receiver) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    struct inbound *in = *pp;
    if (!in) { /* the link closed */
        const struct link_state *s = state_of(c, receiver);
        char why[700];
        fprintf(stderr, "error: the hub closed the receiver link (%s)\n",
                condition_text(s->condition, s->description, why, sizeof(why)));
        return amqp_client_exit_for_condition(s->condition) == CLI_EXIT_UNAUTHORIZED
                   ? CLI_EXIT_UNAUTHORIZED
                   : CLI_EXIT_ERROR;
    }
    *pp = in->next;
    if (c->inbox_tail == in)
        c->inbox_tail = prev;
    in->next = c->taken;
    c->taken = in;
    out->id = in->id;
    out->message = pn_message();
    if (out->message && pn_message_decode(out->message, in->bytes, in->len) != 0) {
        pn_message_free(out->message);
        out->message = NULL;
    }
    free(in->bytes);
    in->bytes = NULL;
    if (!c->closing && !(pn_link_state(receiver) & PN_LOCAL_CLOSED))
        pn_link_flow(receiver, 1);
    return CLI_EXIT_OK;
}

void amqp_client_settle(struct amqp_client *c, const struct amqp_received *r, uint64_t state)
{
    for (struct inbound **pp = &c->taken; *pp; pp = &(*pp)->next) {
        struct inbound *in = *pp;
        if (in->id != r->id)
            continue;
        *pp = in->next;
        pn_delivery_update(in->delivery, state);
        pn_delivery_settle(in->delivery);
        free(in);
        return;
    }
}

void amqp_received_free(struct amqp_received *r)
{
    if (r->message)
        pn_message_free(r->message);
    r->message = NULL;
}

/* ---------------------------------------------------------------------------------------
 * Closing */

/* Releases what was received but not settled: the hub delivers it again later. */
static void release_pending(struct amqp_client *c)
{
    struct inbound *lists[2] = {c->inbox, c->taken};
    for (size_t i = 0; i < 2; i++) {
        for (struct inbound *in = lists[i], *next; in; in = next) {
            next = in->next;
            if (c->conn) {
                pn_delivery_update(in->delivery, PN_RELEASED);
                pn_delivery_settle(in->delivery);
            }
            free(in->bytes);
            free(in);
        }
    }
    c->inbox = c->inbox_tail = c->taken = NULL;
}

/* Runs the proactor until it is inactive (connection closed and freed), dropping the
 * connection when the hub has not closed it within CLOSE_GRACE_MS. The timer is armed while
 * the transport is open; once it closed, PN_PROACTOR_INACTIVE follows as soon as the timer
 * is cancelled. */
static void drain(struct amqp_client *c)
{
    int64_t deadline = time_now_ms() + CLOSE_GRACE_MS;
    bool dropped = false, first = true;
    while (!c->done) {
        int64_t wait = deadline - time_now_ms();
        if (wait <= 0) {
            if (dropped)
                return; /* pn_proactor_free cleans up */
            pn_proactor_disconnect(c->proactor, NULL);
            dropped = true;
            deadline = time_now_ms() + CLOSE_GRACE_MS;
            continue;
        }
        if (c->conn && first)
            pn_connection_wake(c->conn); /* flush the close (see run_until) */
        first = false;
        if (c->conn)
            pn_proactor_set_timeout(c->proactor, (pn_millis_t)wait);
        else /* transport closed: a pending timeout would hold PN_PROACTOR_INACTIVE back */
            pn_proactor_cancel_timeout(c->proactor);
        pn_event_batch_t *batch = pn_proactor_wait(c->proactor);
        pn_event_t *e;
        while ((e = pn_event_batch_next(batch)) != NULL)
            handle(c, e);
        pn_proactor_done(c->proactor, batch);
    }
}

void amqp_client_close(struct amqp_client *c)
{
    if (!c)
        return;
    release_pending(c);
    if (c->proactor) {
        if (c->connected) {
            start_close(c);
            drain(c);
        }
        pn_proactor_free(c->proactor);
    }
    if (c->ssl)
        pn_ssl_domain_free(c->ssl);
    if (c->sendbuf.start) {
        OPENSSL_cleanse(c->sendbuf.start, c->sendbuf.size);
        free(c->sendbuf.start);
    }
    if (c->key) {
        OPENSSL_cleanse(c->key, strlen(c->key));
        free(c->key);
    }
    free(c);
}
