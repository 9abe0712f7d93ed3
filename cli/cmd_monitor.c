/* iothub monitor-events: watch device-to-cloud messages as the tutorial's monitor does, as an
 * AMQP 1.0 client of the hub's Event Hubs-compatible endpoint (spec 5.1, 5.2, 5.4), never
 * by reading the daemon's files.
 *
 * Engine: Qpid Proton-C's proactor (libqpid-proton) with Proton's own TLS layer (pn_ssl,
 * OpenSSL underneath). The conversation is the one @azure/event-hubs has
 * (tests/../fixtures/wire/amqps-eventhubs.txt):
 *
 *   TLS to {host}:5671; SASL ANONYMOUS (initial response = the policy name); open
 *   CBS session: sender -> "$cbs", receiver <- "$cbs" (named cbs-{random})
 *   put-token sb://{host}/{hub}/$management, then a management session with
 *     sender -> "$management" and receiver <- "$management"; READ com.microsoft:eventhub
 *     gives the partition ids
 *   per partition: put-token sb://{host}/{hub}/ConsumerGroups/{cg}/Partitions/{p}, then a
 *     session with a receiver on {hub}/ConsumerGroups/{cg}/Partitions/{p} whose source
 *     carries the selector filter (apache.org:selector-filter:string) for the start
 *     position; credit MONITOR_CREDIT, topped up as events are accepted
 *
 * SAS tokens are signed with the UTF-8 bytes of the key text, the Event Hubs convention of
 * @azure/event-hubs (spec 1.3); they are put again every 45 minutes.
 *
 * Threads: the proactor runs on the main thread; SIGINT and SIGTERM are blocked and taken
 * by a small sigwait thread that only calls pn_proactor_interrupt(). A stop (signal,
 * --count reached, --timeout without events) closes the links, sessions and the
 * connection and waits (at most CLOSE_GRACE_MS) for the hub's close before exiting 0.
 *
 * Ownership: struct monitor owns the proactor, the TLS domain, the message buffers and the
 * token text; the proactor owns the connection, transport, sessions and links and frees
 * them after PN_TRANSPORT_CLOSED. Keys and tokens are wiped and never printed. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <proton/codec.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/ssl.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amqp_client.h"
#include "cli.h"
#include "common/base64.h"
#include "common/isotime.h"
#include "common/random.h"
#include "common/sas.h"
#include "common/strbuf.h"
#include "common/urlcode.h"
#include "hub.h"
#include "output.h"

#define MONITOR_CREDIT      100     /* link credit per partition */
#define MAX_PARTITIONS      64      /* more than the hosted service allows (32) */
#define TOKEN_LIFETIME_S    3600    /* se = now + 1 h, as @azure/event-hubs */
#define TOKEN_RENEW_MS      2700000 /* put again every 45 minutes */
#define SETUP_TIMEOUT_MS    30000   /* connect, authenticate and attach, at most */
#define CLOSE_GRACE_MS      3000    /* wait for the hub's close at most this long */
#define IDLE_TIMEOUT_MS     60000   /* our AMQP idle time-out, as @azure/event-hubs */
#define ADDRESS_MAX         1024
#define SELECTOR_FILTER     "apache.org:selector-filter:string"
#define SELECTOR_DESCRIPTOR UINT64_C(0x0000468C00000004)
#define BODY_HEX_MAX        4096 /* longer binary bodies are cut in human output */
#define RECEIVER_NAME_KEY   "com.microsoft:receiver-name"

/* Exit reasons recorded while the loop runs; the first one wins. */
struct partition {
    char id[32];
    pn_session_t *session;
    pn_link_t *link;
    bool token_ok;
    bool attached;
};

struct monitor {
    /* From the command line. */
    bool json, props;
    const char *device_filter; /* NULL = every device */
    const char *consumer_group;
    long count;      /* 0 = unlimited */
    long timeout_ms; /* 0 = none */
    char filter[128];
    char position[64]; /* for the ready line: "now", "the start", ... */
    /* From the login. */
    char host[CLI_HOST_MAX];
    char entity[CLI_HOST_MAX];
    char addr[CLI_HOST_MAX + 16];
    const char *policy;
    const char *key;
    /* Proton. */
    pn_proactor_t *proactor;
    pn_ssl_domain_t *ssl;
    pn_connection_t *conn;
    pn_session_t *cbs_session, *mgmt_session;
    pn_link_t *cbs_sender, *cbs_receiver, *mgmt_sender, *mgmt_receiver;
    char cbs_reply[64], mgmt_reply[64];
    char receiver_name[64]; /* the consumer id: target and receiver-name of every receiver */
    pn_message_t *msg;
    pn_rwbytes_t sendbuf;
    char *recvbuf;
    size_t recvcap;
    uint64_t next_id;
    /* Progress. */
    struct partition parts[MAX_PARTITIONS];
    size_t nparts;
    size_t attached;
    bool remote_open, ready, closing, done;
    long received; /* events printed */
    int64_t started_ms, last_event_ms, renew_at_ms, close_by_ms;
    int rc; /* exit code; CLI_EXIT_OK unless an error was recorded */
    bool failed;
    atomic_bool interrupted;
};

static void monitor_stop(struct monitor *m);

/* Records the first error (message to stderr) and starts the clean stop. */
static void monitor_fail(struct monitor *m, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void monitor_fail(struct monitor *m, int rc, const char *fmt, ...)
{
    if (!m->failed) {
        va_list ap;
        m->failed = true;
        m->rc = rc;
        fputs("error: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    monitor_stop(m);
}

static int exit_for_condition(const char *name)
{
    if (!name)
        return CLI_EXIT_ERROR;
    if (strcmp(name, "amqp:unauthorized-access") == 0)
        return CLI_EXIT_UNAUTHORIZED;
    if (strcmp(name, "amqp:not-found") == 0)
        return CLI_EXIT_NOT_FOUND;
    return CLI_EXIT_ERROR;
}

/* ---------------------------------------------------------------------------------------
 * SAS tokens, Event Hubs style */

/* SharedAccessSignature sr=..&sig=..&se=..&skn=.. for audience, signed with the bytes of
 * the key text. Returns 0 or -1. */
static int eventhub_token(const struct monitor *m, const char *audience, char *out, size_t cap)
{
    char sr[3 * ADDRESS_MAX], se[32], sig[128], sig_enc[3 * 128], skn[3 * CLI_HOST_MAX];
    snprintf(se, sizeof(se), "%" PRId64, (int64_t)time(NULL) + TOKEN_LIFETIME_S);
    bool ok =
        url_encode_component(audience, strlen(audience), sr, sizeof(sr)) >= 0 &&
        sas_signature((const uint8_t *)m->key, strlen(m->key), sr, se, sig, sizeof(sig)) >= 0 &&
        url_encode_component(sig, strlen(sig), sig_enc, sizeof(sig_enc)) >= 0 &&
        url_encode_component(m->policy, strlen(m->policy), skn, sizeof(skn)) >= 0;
    int n = ok ? snprintf(out, cap, "SharedAccessSignature sr=%s&sig=%s&se=%s&skn=%s", sr, sig_enc,
                          se, skn)
               : -1;
    OPENSSL_cleanse(sig, sizeof(sig));
    OPENSSL_cleanse(sig_enc, sizeof(sig_enc));
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

static int partition_audience(const struct monitor *m, const struct partition *p, char *out,
                              size_t cap)
{
    int n = snprintf(out, cap, "sb://%s/%s/ConsumerGroups/%s/Partitions/%s", m->host, m->entity,
                     m->consumer_group, p->id);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------
 * AMQP data helpers */

static bool key_is(pn_data_t *d, const char *key)
{
    pn_type_t t = pn_data_type(d);
    if (t != PN_STRING && t != PN_SYMBOL)
        return false;
    pn_bytes_t b = pn_data_get_bytes(d);
    return b.size == strlen(key) && memcmp(b.start, key, b.size) == 0;
}

/* Positions d (rewound; whose first node is a map) at the value of key. false when absent;
 * then d is left rewound. */
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
        bool hit = key_is(d, key);
        if (!pn_data_next(d))
            break;
        if (hit)
            return true;
    }
    pn_data_rewind(d);
    return false;
}

/* Bytes as a JSON string when they are UTF-8 text (jansson checks), else base64. */
static json_t *bytes_to_json(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    size_t cap = BASE64_ENCODED_SIZE(n);
    char *b64 = malloc(cap);
    if (!b64)
        return NULL;
    json_t *v = base64_encode((const uint8_t *)p, n, b64, cap) >= 0 ? json_string(b64) : NULL;
    free(b64);
    return v;
}

static json_t *data_to_json(pn_data_t *d, int depth);

static json_t *compound_to_json(pn_data_t *d, int depth)
{
    pn_type_t t = pn_data_type(d);
    json_t *out = t == PN_MAP ? json_object() : json_array();
    size_t n = t == PN_MAP    ? pn_data_get_map(d)
               : t == PN_LIST ? pn_data_get_list(d)
                              : pn_data_get_array(d);
    bool described = t == PN_ARRAY && pn_data_is_array_described(d);
    if (!out || !pn_data_enter(d))
        return out;
    if (described)
        pn_data_next(d);
    for (size_t i = 0; i < n && pn_data_next(d); i++) {
        if (t == PN_MAP) {
            char key[256];
            json_t *k = data_to_json(d, depth + 1);
            if (json_is_string(k))
                str_copy(key, sizeof(key), json_string_value(k));
            else {
                char *text =
                    k ? json_dumps(k, JSON_ENCODE_ANY | JSON_COMPACT | CLI_JSON_REAL) : NULL;
                str_copy(key, sizeof(key), text ? text : "?");
                free(text);
            }
            json_decref(k);
            i++;
            if (!pn_data_next(d))
                break;
            json_object_set_new(out, key, data_to_json(d, depth + 1));
        } else {
            json_array_append_new(out, data_to_json(d, depth + 1));
        }
    }
    pn_data_exit(d);
    return out;
}

/* The current node as JSON: numbers, booleans and strings as themselves, timestamps as ISO
 * 8601 text, uuids as text, binary as text when UTF-8 (else base64), maps as objects (keys
 * as text), lists and arrays as arrays, a described value as its value. */
static json_t *data_to_json(pn_data_t *d, int depth)
{
    char buf[64];
    int64_t i;
    if (depth > 16)
        return json_string("(nested too deep)");
    switch (pn_data_type(d)) {
    case PN_BOOL:
        return json_boolean(pn_data_get_bool(d));
    case PN_ULONG:
        if (pn_data_get_ulong(d) > (uint64_t)INT64_MAX) {
            snprintf(buf, sizeof(buf), "%" PRIu64, pn_data_get_ulong(d));
            return json_string(buf);
        }
        return json_integer((json_int_t)pn_data_get_ulong(d));
    case PN_TIMESTAMP:
        return json_string(isotime_format(pn_data_get_timestamp(d), buf, sizeof(buf)));
    case PN_UBYTE:
    case PN_BYTE:
    case PN_USHORT:
    case PN_SHORT:
    case PN_UINT:
    case PN_INT:
    case PN_LONG:
        amqp_data_int(d, &i);
        return json_integer((json_int_t)i);
    case PN_CHAR:
        return json_integer((json_int_t)pn_data_get_char(d));
    case PN_FLOAT:
        return json_real(pn_data_get_float(d));
    case PN_DOUBLE:
        return json_real(pn_data_get_double(d));
    case PN_UUID: {
        pn_uuid_t u = pn_data_get_uuid(d);
        const unsigned char *b = (const unsigned char *)u.bytes;
        snprintf(buf, sizeof(buf),
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
        return json_string(buf);
    }
    case PN_STRING:
    case PN_SYMBOL:
    case PN_BINARY: {
        pn_bytes_t b = pn_data_get_bytes(d);
        return bytes_to_json(b.start, b.size);
    }
    case PN_MAP:
    case PN_LIST:
    case PN_ARRAY:
        return compound_to_json(d, depth);
    case PN_DESCRIBED: {
        json_t *v = json_null();
        if (pn_data_enter(d)) {
            if (pn_data_next(d) && pn_data_next(d)) {
                json_decref(v);
                v = data_to_json(d, depth + 1);
            }
            pn_data_exit(d);
        }
        return v;
    }
    default:
        return json_null();
    }
}

/* The first node of d (rewound) as JSON; NULL when d is empty. */
static json_t *section_to_json(pn_data_t *d)
{
    pn_data_rewind(d);
    if (!pn_data_next(d))
        return NULL;
    return data_to_json(d, 0);
}

/* ---------------------------------------------------------------------------------------
 * Sending requests (CBS put-token, management READ) */

static void next_message_id(struct monitor *m, const char *kind, size_t index, char *out,
                            size_t cap)
{
    snprintf(out, cap, "iothub-cli-%s-%zu-%" PRIu64, kind, index, ++m->next_id);
}

static void put_string_pair(pn_data_t *d, const char *k, const char *v)
{
    pn_data_put_string(d, pn_bytes(strlen(k), k));
    pn_data_put_string(d, pn_bytes(strlen(v), v));
}

static int send_message(struct monitor *m, pn_link_t *sender)
{
    char tag[24];
    int tag_len = snprintf(tag, sizeof(tag), "%" PRIu64, m->next_id);
    pn_delivery(sender, pn_dtag(tag, (size_t)tag_len));
    ssize_t n = pn_message_send(m->msg, sender, &m->sendbuf);
    if (m->sendbuf.start)
        OPENSSL_cleanse(m->sendbuf.start, m->sendbuf.size); /* it held a token */
    pn_message_clear(m->msg);
    return n < 0 ? -1 : 0;
}

/* put-token for audience; kind/index come back in the reply's correlation-id. */
static void cbs_put_token(struct monitor *m, const char *audience, const char *kind, size_t index)
{
    char token[SAS_TOKEN_MAX], id[96];
    if (eventhub_token(m, audience, token, sizeof(token)) != 0) {
        monitor_fail(m, CLI_EXIT_USAGE, "cannot sign a token (check the login's key)");
        return;
    }
    next_message_id(m, kind, index, id, sizeof(id));
    pn_message_clear(m->msg);
    pn_message_set_inferred(m->msg, false);
    pn_data_put_string(pn_message_id(m->msg), pn_bytes(strlen(id), id));
    pn_message_set_address(m->msg, "$cbs");
    pn_message_set_reply_to(m->msg, m->cbs_reply);
    pn_data_t *ap = pn_message_properties(m->msg);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    put_string_pair(ap, "operation", "put-token");
    put_string_pair(ap, "type", "servicebus.windows.net:sastoken");
    put_string_pair(ap, "name", audience);
    pn_data_exit(ap);
    pn_data_put_string(pn_message_body(m->msg), pn_bytes(strlen(token), token));
    OPENSSL_cleanse(token, sizeof(token));
    if (send_message(m, m->cbs_sender) != 0)
        monitor_fail(m, CLI_EXIT_ERROR, "cannot send the CBS put-token request");
}

static void mgmt_read_eventhub(struct monitor *m)
{
    char id[96], audience[ADDRESS_MAX], token[SAS_TOKEN_MAX];
    snprintf(audience, sizeof(audience), "sb://%s/%s", m->host, m->entity);
    if (eventhub_token(m, audience, token, sizeof(token)) != 0) {
        monitor_fail(m, CLI_EXIT_USAGE, "cannot sign a token (check the login's key)");
        return;
    }
    next_message_id(m, "mgmt", 0, id, sizeof(id));
    pn_message_clear(m->msg);
    pn_message_set_inferred(m->msg, false);
    pn_data_put_string(pn_message_id(m->msg), pn_bytes(strlen(id), id));
    pn_message_set_reply_to(m->msg, m->mgmt_reply);
    pn_data_t *ap = pn_message_properties(m->msg);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    put_string_pair(ap, "operation", "READ");
    put_string_pair(ap, "name", m->entity);
    put_string_pair(ap, "type", "com.microsoft:eventhub");
    put_string_pair(ap, "security_token", token);
    pn_data_exit(ap);
    OPENSSL_cleanse(token, sizeof(token));
    pn_data_put_binary(pn_message_body(m->msg), pn_bytes(2, "[]"));
    if (send_message(m, m->mgmt_sender) != 0)
        monitor_fail(m, CLI_EXIT_ERROR, "cannot send the management request");
}

/* ---------------------------------------------------------------------------------------
 * Opening things */

static void random_name(const char *prefix, char *out, size_t cap)
{
    char hex[33] = "0";
    random_hex32(hex);
    snprintf(out, cap, "%s-%s", prefix, hex);
}

static void open_cbs(struct monitor *m)
{
    m->cbs_session = pn_session(m->conn);
    pn_session_open(m->cbs_session);
    random_name("cbs-sender", m->cbs_reply, sizeof(m->cbs_reply));
    m->cbs_sender = pn_sender(m->cbs_session, m->cbs_reply);
    pn_terminus_set_address(pn_link_target(m->cbs_sender), "$cbs");
    pn_link_open(m->cbs_sender);
    random_name("cbs", m->cbs_reply, sizeof(m->cbs_reply));
    m->cbs_receiver = pn_receiver(m->cbs_session, m->cbs_reply);
    pn_terminus_set_address(pn_link_source(m->cbs_receiver), "$cbs");
    pn_terminus_set_address(pn_link_target(m->cbs_receiver), m->cbs_reply);
    pn_link_open(m->cbs_receiver);
    pn_link_flow(m->cbs_receiver, MONITOR_CREDIT);
}

static void open_management(struct monitor *m)
{
    char name[64];
    m->mgmt_session = pn_session(m->conn);
    pn_session_open(m->mgmt_session);
    random_name("mgmt-sender", name, sizeof(name));
    m->mgmt_sender = pn_sender(m->mgmt_session, name);
    pn_terminus_set_address(pn_link_target(m->mgmt_sender), "$management");
    pn_link_open(m->mgmt_sender);
    random_name("mgmt", m->mgmt_reply, sizeof(m->mgmt_reply));
    m->mgmt_receiver = pn_receiver(m->mgmt_session, m->mgmt_reply);
    pn_terminus_set_address(pn_link_source(m->mgmt_receiver), "$management");
    pn_terminus_set_address(pn_link_target(m->mgmt_receiver), m->mgmt_reply);
    pn_link_open(m->mgmt_receiver);
    pn_link_flow(m->mgmt_receiver, 10);
    mgmt_read_eventhub(m);
}

static void open_partition(struct monitor *m, struct partition *p)
{
    char address[ADDRESS_MAX], name[ADDRESS_MAX + 48];
    snprintf(address, sizeof(address), "%s/ConsumerGroups/%s/Partitions/%s", m->entity,
             m->consumer_group, p->id);
    random_name(address, name, sizeof(name));
    p->session = pn_session(m->conn);
    pn_session_open(p->session);
    p->link = pn_receiver(p->session, name);
    pn_terminus_t *src = pn_link_source(p->link);
    pn_terminus_set_address(src, address);
    pn_data_t *f = pn_terminus_filter(src);
    pn_data_put_map(f);
    pn_data_enter(f);
    pn_data_put_symbol(f, pn_bytes(strlen(SELECTOR_FILTER), SELECTOR_FILTER));
    pn_data_put_described(f);
    pn_data_enter(f);
    pn_data_put_ulong(f, SELECTOR_DESCRIPTOR);
    pn_data_put_string(f, pn_bytes(strlen(m->filter), m->filter));
    pn_data_exit(f);
    pn_data_exit(f);
    pn_terminus_set_address(pn_link_target(p->link), m->receiver_name);
    /* As @azure/event-hubs: the consumer's name in the link properties (no owner level). */
    pn_data_t *props = pn_link_properties(p->link);
    pn_data_put_map(props);
    pn_data_enter(props);
    pn_data_put_symbol(props, pn_bytes(strlen(RECEIVER_NAME_KEY), RECEIVER_NAME_KEY));
    pn_data_put_string(props, pn_bytes(strlen(m->receiver_name), m->receiver_name));
    pn_data_exit(props);
    pn_link_open(p->link);
    pn_link_flow(p->link, MONITOR_CREDIT);
}

/* Puts every token again (before the 1-hour tokens expire). */
static void renew_tokens(struct monitor *m)
{
    char audience[ADDRESS_MAX];
    snprintf(audience, sizeof(audience), "sb://%s/%s/$management", m->host, m->entity);
    cbs_put_token(m, audience, "renew", 0);
    for (size_t i = 0; i < m->nparts && !m->closing; i++)
        if (partition_audience(m, &m->parts[i], audience, sizeof(audience)) == 0)
            cbs_put_token(m, audience, "renew", i);
    m->renew_at_ms = time_now_ms() + TOKEN_RENEW_MS;
}

/* ---------------------------------------------------------------------------------------
 * Replies */

/* status-code and status-description of a CBS or management reply. */
static int64_t reply_status(pn_message_t *msg, char *desc, size_t cap)
{
    int64_t status = -1;
    pn_data_t *ap = pn_message_properties(msg);
    desc[0] = '\0';
    if (map_find(ap, "status-code"))
        amqp_data_int(ap, &status);
    if (map_find(ap, "status-description"))
        amqp_data_text(ap, desc, cap);
    for (char *p = desc; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return status;
}

static bool correlation(pn_message_t *msg, char *out, size_t cap)
{
    pn_data_t *c = pn_message_correlation_id(msg);
    pn_data_rewind(c);
    return pn_data_next(c) && amqp_data_text(c, out, cap);
}

static int exit_for_status(int64_t status)
{
    return status == 401 || status == 403 ? CLI_EXIT_UNAUTHORIZED
           : status == 404                ? CLI_EXIT_NOT_FOUND
           : status == 400                ? CLI_EXIT_BAD_REQUEST
                                          : CLI_EXIT_ERROR;
}

static void on_cbs_reply(struct monitor *m, pn_message_t *msg)
{
    char id[128], desc[256];
    int64_t status = reply_status(msg, desc, sizeof(desc));
    if (!correlation(msg, id, sizeof(id)))
        return;
    size_t index = 0;
    char kind[16] = "";
    if (sscanf(id, "iothub-cli-%15[a-z]-%zu-", kind, &index) != 2)
        return;
    if (status < 200 || status > 299) {
        monitor_fail(m, exit_for_status(status),
                     "the hub refused the token of policy '%s' (CBS status %" PRId64 "%s%s)",
                     m->policy, status, desc[0] ? ": " : "", desc);
        return;
    }
    if (strcmp(kind, "mgmt") == 0) {
        if (!m->mgmt_session)
            open_management(m);
    } else if (strcmp(kind, "part") == 0 && index < m->nparts) {
        struct partition *p = &m->parts[index];
        if (!p->token_ok) {
            p->token_ok = true;
            open_partition(m, p);
        }
    }
}

static void on_mgmt_reply(struct monitor *m, pn_message_t *msg)
{
    char desc[256], audience[ADDRESS_MAX];
    int64_t status = reply_status(msg, desc, sizeof(desc));
    if (m->nparts > 0)
        return;
    if (status != 200) {
        monitor_fail(m, exit_for_status(status),
                     "the hub's management READ of '%s' failed (status %" PRId64 "%s%s)", m->entity,
                     status, desc[0] ? ": " : "", desc);
        return;
    }
    pn_data_t *body = pn_message_body(msg);
    if (!map_find(body, "partition_ids") ||
        (pn_data_type(body) != PN_ARRAY && pn_data_type(body) != PN_LIST)) {
        monitor_fail(m, CLI_EXIT_ERROR, "the hub's management answer has no partition_ids");
        return;
    }
    bool array = pn_data_type(body) == PN_ARRAY;
    bool described = array && pn_data_is_array_described(body);
    size_t n = array ? pn_data_get_array(body) : pn_data_get_list(body);
    pn_data_enter(body);
    if (described)
        pn_data_next(body);
    for (size_t i = 0; i < n && pn_data_next(body); i++) {
        struct partition *p = &m->parts[m->nparts];
        if (m->nparts == MAX_PARTITIONS || !amqp_data_text(body, p->id, sizeof(p->id)) || !p->id[0])
            continue;
        m->nparts++;
    }
    pn_data_exit(body);
    if (m->nparts == 0) {
        monitor_fail(m, CLI_EXIT_ERROR, "the hub reports no partitions for '%s'", m->entity);
        return;
    }
    for (size_t i = 0; i < m->nparts; i++)
        if (partition_audience(m, &m->parts[i], audience, sizeof(audience)) == 0)
            cbs_put_token(m, audience, "part", i);
}

/* ---------------------------------------------------------------------------------------
 * Printing events */

static void print_props_human(const char *title, json_t *obj)
{
    const char *k;
    json_t *v;
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return;
    printf("  %s:\n", title);
    json_object_foreach(obj, k, v)
    {
        if (json_is_string(v)) {
            printf("    %s: %s\n", k, json_string_value(v));
        } else {
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | CLI_JSON_REAL);
            printf("    %s: %s\n", k, text ? text : "?");
            free(text);
        }
    }
}

/* UTF-8 text with no control characters but tab, CR and LF. */
static bool is_text(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (!s)
        return false;
    json_decref(s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            return false;
    }
    return true;
}

static void print_hex(const char *p, size_t n)
{
    size_t shown = n < BODY_HEX_MAX ? n : BODY_HEX_MAX;
    for (size_t i = 0; i < shown; i += 16) {
        printf("  %08zx ", i);
        for (size_t j = i; j < i + 16 && j < shown; j++)
            printf(" %02x", (unsigned char)p[j]);
        putchar('\n');
    }
    if (shown < n)
        printf("  ... (%zu bytes in all)\n", n);
}

/* The system properties of the message (its AMQP properties section) as JSON. */
static json_t *system_properties(pn_message_t *msg)
{
    json_t *o = json_object();
    json_t *v;
    char buf[64];
    if (!o)
        return NULL;
    if ((v = section_to_json(pn_message_id(msg))) != NULL)
        json_object_set_new(o, "message-id", v);
    if ((v = section_to_json(pn_message_correlation_id(msg))) != NULL)
        json_object_set_new(o, "correlation-id", v);
    pn_bytes_t uid = pn_message_get_user_id(msg);
    if (uid.size)
        json_object_set_new(o, "user-id", bytes_to_json(uid.start, uid.size));
    const struct {
        const char *name;
        const char *value;
    } strings[] = {
        {"to", pn_message_get_address(msg)},
        {"subject", pn_message_get_subject(msg)},
        {"reply-to", pn_message_get_reply_to(msg)},
        {"content-type", pn_message_get_content_type(msg)},
        {"content-encoding", pn_message_get_content_encoding(msg)},
    };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if (strings[i].value && strings[i].value[0])
            json_object_set_new(o, strings[i].name,
                                bytes_to_json(strings[i].value, strlen(strings[i].value)));
    if (pn_message_get_expiry_time(msg))
        json_object_set_new(
            o, "absolute-expiry-time",
            json_string(isotime_format(pn_message_get_expiry_time(msg), buf, sizeof(buf))));
    if (pn_message_get_creation_time(msg))
        json_object_set_new(
            o, "creation-time",
            json_string(isotime_format(pn_message_get_creation_time(msg), buf, sizeof(buf))));
    return o;
}

/* One event: returns false when it was filtered out. */
static bool print_event(struct monitor *m, const struct partition *part, pn_message_t *msg)
{
    char device[256] = "", module[256] = "", offset[32] = "", when[ISOTIME_SIZE] = "";
    int64_t seq = -1, enqueued = 0;
    pn_data_t *ann = pn_message_annotations(msg);
    if (map_find(ann, "iothub-connection-device-id"))
        amqp_data_text(ann, device, sizeof(device));
    if (m->device_filter && strcmp(device, m->device_filter) != 0)
        return false;
    if (map_find(ann, "iothub-connection-module-id"))
        amqp_data_text(ann, module, sizeof(module));
    if (map_find(ann, "x-opt-sequence-number"))
        amqp_data_int(ann, &seq);
    if (map_find(ann, "x-opt-offset"))
        amqp_data_text(ann, offset, sizeof(offset));
    if (map_find(ann, "x-opt-enqueued-time"))
        amqp_data_int(ann, &enqueued);
    isotime_format(enqueued, when, sizeof(when));

    /* The body: one data section (what the hub sends), or an AMQP value. */
    const char *body = NULL;
    size_t body_len = 0;
    json_t *body_value = NULL; /* an AMQP value body that is not bytes */
    pn_data_t *bd = pn_message_body(msg);
    pn_data_rewind(bd);
    if (pn_data_next(bd)) {
        pn_type_t t = pn_data_type(bd);
        if (t == PN_BINARY || t == PN_STRING || t == PN_SYMBOL) {
            pn_bytes_t b = pn_data_get_bytes(bd);
            body = b.start;
            body_len = b.size;
        } else {
            body_value = data_to_json(bd, 0);
        }
    }
    json_t *body_json = NULL;
    if (body && body_len)
        body_json = json_loadb(body, body_len, JSON_DECODE_ANY, NULL);
    bool text = body && !body_json && is_text(body, body_len);

    json_t *sys = m->props ? system_properties(msg) : NULL;
    json_t *app = m->props ? section_to_json(pn_message_properties(msg)) : NULL;
    json_t *annotations = m->props ? section_to_json(ann) : NULL;

    if (m->json) {
        json_t *o =
            json_pack("{s:s, s:s, s:I, s:s, s:s}", "deviceId", device, "partition", part->id,
                      "sequenceNumber", (json_int_t)seq, "offset", offset, "enqueuedTime", when);
        if (o && module[0])
            json_object_set_new(o, "moduleId", json_string(module));
        if (o) {
            if (body_json) {
                json_object_set_new(o, "bodyType", json_string("json"));
                json_object_set(o, "body", body_json);
            } else if (body_value) {
                json_object_set_new(o, "bodyType", json_string("amqp-value"));
                json_object_set(o, "body", body_value);
            } else if (text || !body) {
                json_object_set_new(o, "bodyType", json_string("text"));
                json_object_set_new(o, "body", json_stringn(body ? body : "", body_len));
            } else {
                size_t cap = BASE64_ENCODED_SIZE(body_len);
                char *b64 = malloc(cap);
                json_object_set_new(o, "bodyType", json_string("base64"));
                if (b64 && base64_encode((const uint8_t *)body, body_len, b64, cap) >= 0)
                    json_object_set_new(o, "body", json_string(b64));
                free(b64);
            }
            if (m->props) {
                json_object_set(o, "properties", sys ? sys : json_object());
                json_object_set_new(o, "applicationProperties", app ? app : json_object());
                app = NULL;
                json_object_set(o, "annotations", annotations ? annotations : json_object());
            }
        }
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | CLI_JSON_REAL) : NULL;
        if (line)
            printf("%s\n", line);
        else
            fprintf(stderr, "error: out of memory formatting an event\n");
        free(line);
        json_decref(o);
    } else {
        printf("event from %s%s%s at %s (partition %s, sequence number %" PRId64 ", offset %s)\n",
               device[0] ? device : "(unknown device)", module[0] ? "/" : "", module, when,
               part->id, seq, offset[0] ? offset : "?");
        if (m->props) {
            print_props_human("properties", sys);
            print_props_human("application properties", app);
            print_props_human("annotations", annotations);
        }
        if (body_json) {
            output_json(stdout, body_json);
        } else if (body_value) {
            output_json(stdout, body_value);
        } else if (text) {
            fwrite(body, 1, body_len, stdout);
            if (body_len == 0 || body[body_len - 1] != '\n')
                putchar('\n');
        } else if (body) {
            printf("(%zu bytes of binary data)\n", body_len);
            print_hex(body, body_len);
        } else {
            printf("(no body)\n");
        }
        putchar('\n');
    }
    fflush(stdout);
    json_decref(sys);
    json_decref(app);
    json_decref(annotations);
    json_decref(body_json);
    json_decref(body_value);
    return true;
}

/* ---------------------------------------------------------------------------------------
 * The event loop */

static struct partition *partition_of(struct monitor *m, pn_link_t *l)
{
    for (size_t i = 0; i < m->nparts; i++)
        if (m->parts[i].link == l)
            return &m->parts[i];
    return NULL;
}

static void close_link(pn_link_t **l)
{
    if (*l && !(pn_link_state(*l) & PN_LOCAL_CLOSED))
        pn_link_close(*l);
}

static void close_session(pn_session_t *s)
{
    if (s && !(pn_session_state(s) & PN_LOCAL_CLOSED))
        pn_session_close(s);
}

static void monitor_stop(struct monitor *m)
{
    if (m->closing)
        return;
    m->closing = true;
    m->close_by_ms = time_now_ms() + CLOSE_GRACE_MS;
    if (!m->conn) {
        pn_proactor_disconnect(m->proactor, NULL);
        return;
    }
    for (size_t i = 0; i < m->nparts; i++) {
        close_link(&m->parts[i].link);
        close_session(m->parts[i].session);
    }
    close_link(&m->mgmt_sender);
    close_link(&m->mgmt_receiver);
    close_session(m->mgmt_session);
    close_link(&m->cbs_sender);
    close_link(&m->cbs_receiver);
    close_session(m->cbs_session);
    if (!(pn_connection_state(m->conn) & PN_LOCAL_CLOSED))
        pn_connection_close(m->conn);
}

static void on_delivery(struct monitor *m, pn_delivery_t *d)
{
    pn_link_t *l = pn_delivery_link(d);
    if (pn_link_is_sender(l)) {
        /* Our requests: settled once the hub has settled or decided them. */
        if (pn_delivery_remote_state(d) || pn_delivery_settled(d))
            pn_delivery_settle(d);
        return;
    }
    if (!pn_delivery_readable(d) || pn_delivery_partial(d))
        return; /* wait for the whole message */
    size_t size = pn_delivery_pending(d);
    if (size + 1 > m->recvcap) {
        char *grown = realloc(m->recvbuf, size + 1);
        if (!grown) {
            monitor_fail(m, CLI_EXIT_ERROR, "out of memory receiving a %zu-byte message", size);
            return;
        }
        m->recvbuf = grown;
        m->recvcap = size + 1;
    }
    ssize_t got = pn_link_recv(l, m->recvbuf, size);
    pn_link_advance(l);
    pn_message_t *msg = pn_message();
    bool decoded = msg && got >= 0 && pn_message_decode(msg, m->recvbuf, (size_t)got) == 0;
    struct partition *part = partition_of(m, l);
    if (!decoded) {
        pn_delivery_update(d, PN_REJECTED);
        pn_delivery_settle(d);
        if (part)
            fprintf(stderr, "warning: partition %s: a message that is not valid AMQP, skipped\n",
                    part->id);
    } else if (l == m->cbs_receiver) {
        pn_delivery_update(d, PN_ACCEPTED);
        pn_delivery_settle(d);
        on_cbs_reply(m, msg);
    } else if (l == m->mgmt_receiver) {
        pn_delivery_update(d, PN_ACCEPTED);
        pn_delivery_settle(d);
        on_mgmt_reply(m, msg);
    } else if (part) {
        pn_delivery_update(d, PN_ACCEPTED);
        pn_delivery_settle(d);
        m->last_event_ms = time_now_ms();
        if (!m->closing && print_event(m, part, msg)) {
            m->received++;
            if (m->count > 0 && m->received >= m->count)
                monitor_stop(m);
        }
    } else {
        pn_delivery_settle(d);
    }
    pn_message_free(msg);
    /* Keep the credit up: a request/reply link a little, a partition fully. */
    if (!m->closing && !(pn_link_state(l) & PN_LOCAL_CLOSED)) {
        int want = part ? MONITOR_CREDIT : 10;
        if (pn_link_credit(l) < want / 2)
            pn_link_flow(l, want - pn_link_credit(l));
    }
}

static void on_link_remote_open(struct monitor *m, pn_link_t *l)
{
    struct partition *p = partition_of(m, l);
    if (!p || p->attached)
        return;
    /* A refused attach comes back with a null source, then the detach with the reason. */
    if (!pn_terminus_get_address(pn_link_remote_source(l)))
        return;
    p->attached = true;
    m->attached++;
    if (m->attached == m->nparts && !m->ready) {
        m->ready = true;
        m->last_event_ms = time_now_ms();
        fprintf(stderr,
                "Monitoring %zu partition%s of '%s' (consumer group %s) from %s%s%s. "
                "Ctrl-C stops.\n",
                m->nparts, m->nparts == 1 ? "" : "s", m->entity, m->consumer_group, m->position,
                m->device_filter ? ", device " : "", m->device_filter ? m->device_filter : "");
    }
}

static void on_link_remote_close(struct monitor *m, pn_link_t *l)
{
    if (!m->closing) {
        char why[512];
        pn_condition_t *c = pn_link_remote_condition(l);
        amqp_condition_describe(c, why, sizeof(why));
        struct partition *p = partition_of(m, l);
        const char *name = pn_condition_get_name(c);
        if (p && name && strcmp(name, "amqp:not-found") == 0)
            monitor_fail(m, CLI_EXIT_NOT_FOUND,
                         "the hub has no partition %s of '%s' in consumer group '%s' (%s)", p->id,
                         m->entity, m->consumer_group, why);
        else if (p)
            monitor_fail(m, exit_for_condition(name),
                         "the hub closed the receiver of partition "
                         "%s (%s)",
                         p->id, why);
        else
            monitor_fail(m, exit_for_condition(name), "the hub closed the %s link (%s)",
                         l == m->cbs_sender || l == m->cbs_receiver ? "$cbs" : "$management", why);
    }
    close_link(&l);
}

static void handle(struct monitor *m, pn_event_t *e)
{
    char why[512];
    switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN:
        if (!m->remote_open) {
            char audience[ADDRESS_MAX];
            m->remote_open = true;
            open_cbs(m);
            snprintf(audience, sizeof(audience), "sb://%s/%s/$management", m->host, m->entity);
            cbs_put_token(m, audience, "mgmt", 0);
            m->renew_at_ms = time_now_ms() + TOKEN_RENEW_MS;
        }
        break;
    case PN_LINK_REMOTE_OPEN:
        on_link_remote_open(m, pn_event_link(e));
        break;
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH:
        on_link_remote_close(m, pn_event_link(e));
        break;
    case PN_SESSION_REMOTE_CLOSE:
        if (!m->closing) {
            amqp_condition_describe(pn_session_remote_condition(pn_event_session(e)), why,
                                    sizeof(why));
            monitor_fail(m, CLI_EXIT_ERROR, "the hub ended a session (%s)", why);
        }
        close_session(pn_event_session(e));
        break;
    case PN_CONNECTION_REMOTE_CLOSE:
        if (!m->closing) {
            pn_condition_t *c = pn_connection_remote_condition(pn_event_connection(e));
            amqp_condition_describe(c, why, sizeof(why));
            monitor_fail(m, exit_for_condition(pn_condition_get_name(c)),
                         "the hub closed the connection (%s)", why);
        }
        if (!(pn_connection_state(m->conn) & PN_LOCAL_CLOSED))
            pn_connection_close(m->conn);
        break;
    case PN_DELIVERY:
        on_delivery(m, pn_event_delivery(e));
        break;
    case PN_TRANSPORT_CLOSED: {
        pn_condition_t *c = pn_transport_condition(pn_event_transport(e));
        if (pn_condition_is_set(c) && !m->closing) {
            const char *name = pn_condition_get_name(c);
            amqp_condition_describe(c, why, sizeof(why));
            if (name && strcmp(name, "amqp:unauthorized-access") == 0)
                monitor_fail(m, CLI_EXIT_UNAUTHORIZED, "the hub refused the SASL handshake (%s)",
                             why);
            else if (!m->remote_open)
                monitor_fail(m, CLI_EXIT_UNREACHABLE,
                             "cannot reach the hub's AMQP endpoint %s (%s)", m->addr, why);
            else
                monitor_fail(m, CLI_EXIT_ERROR, "the connection to %s was lost (%s)", m->addr, why);
        } else if (!m->closing) {
            monitor_fail(m, CLI_EXIT_ERROR, "the hub closed the connection");
        }
        m->closing = true;
        m->conn = NULL; /* the proactor frees it */
        break;
    }
    case PN_PROACTOR_INTERRUPT:
        monitor_stop(m);
        break;
    case PN_PROACTOR_TIMEOUT: {
        int64_t now = time_now_ms();
        if (m->closing) {
            if (now >= m->close_by_ms)
                pn_proactor_disconnect(m->proactor, NULL);
        } else if (!m->ready && now - m->started_ms >= SETUP_TIMEOUT_MS) {
            monitor_fail(m, CLI_EXIT_UNREACHABLE,
                         "the hub's AMQP endpoint %s did not get ready within %d s", m->addr,
                         SETUP_TIMEOUT_MS / 1000);
        } else if (m->timeout_ms && now - m->last_event_ms >= m->timeout_ms) {
            if (!m->ready)
                monitor_fail(m, CLI_EXIT_UNREACHABLE,
                             "the hub's AMQP endpoint %s did not get ready within %ld s", m->addr,
                             m->timeout_ms / 1000);
            else
                monitor_stop(m);
        } else if (m->ready && now >= m->renew_at_ms) {
            renew_tokens(m);
        }
        break;
    }
    case PN_PROACTOR_INACTIVE:
        m->done = true;
        break;
    default:
        break;
    }
}

/* The next moment the loop must wake up for. */
static void arm_timer(struct monitor *m)
{
    if (!m->conn) {
        /* The transport is gone: a pending timeout would hold PN_PROACTOR_INACTIVE back. */
        pn_proactor_cancel_timeout(m->proactor);
        return;
    }
    int64_t now = time_now_ms();
    int64_t next;
    if (m->closing) {
        next = m->close_by_ms;
    } else {
        next = m->ready ? m->renew_at_ms : m->started_ms + SETUP_TIMEOUT_MS;
        if (m->timeout_ms && m->last_event_ms + m->timeout_ms < next)
            next = m->last_event_ms + m->timeout_ms;
    }
    int64_t wait = next - now;
    pn_proactor_set_timeout(m->proactor, (pn_millis_t)(wait < 1 ? 1 : wait));
}

/* ---------------------------------------------------------------------------------------
 * Signals: a thread takes SIGINT/SIGTERM and interrupts the proactor. */

struct signal_watch {
    pthread_t thread;
    sigset_t set, old;
    struct monitor *m;
    atomic_bool finished;
    bool running;
};

static void *signal_thread(void *arg)
{
    struct signal_watch *w = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&w->set, &sig) != 0)
            continue;
        if (atomic_load(&w->finished))
            return NULL;
        if (atomic_exchange(&w->m->interrupted, true)) {
            /* A second Ctrl-C while closing: stop at once. */
            _exit(sig == SIGINT ? 130 : 143);
        }
        pn_proactor_interrupt(w->m->proactor);
    }
}

static int signal_watch_start(struct signal_watch *w, struct monitor *m)
{
    w->m = m;
    atomic_init(&w->finished, false);
    sigemptyset(&w->set);
    sigaddset(&w->set, SIGINT);
    sigaddset(&w->set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &w->set, &w->old) != 0)
        return -1;
    if (pthread_create(&w->thread, NULL, signal_thread, w) != 0) {
        pthread_sigmask(SIG_SETMASK, &w->old, NULL);
        return -1;
    }
    w->running = true;
    return 0;
}

static void signal_watch_stop(struct signal_watch *w)
{
    if (!w->running)
        return;
    atomic_store(&w->finished, true);
    pthread_kill(w->thread, SIGTERM); /* blocked everywhere: sigwait takes it */
    pthread_join(w->thread, NULL);
    /* Take any signal that arrived meanwhile before unblocking (it has been handled). */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&w->set, NULL, &zero) > 0)
        ;
    pthread_sigmask(SIG_SETMASK, &w->old, NULL);
    w->running = false;
}

/* ---------------------------------------------------------------------------------------
 * The command */

static int parse_from_time(const struct opt_cmd *cmd, const char *s, int64_t *ms)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] && *end == '\0' && errno == 0 && v >= 0) {
        *ms = v;
        return 0;
    }
    if (isotime_parse(s, ms) == 0)
        return 0;
    return opt_error(cmd,
                     "'--from-time' expects ISO 8601 (2026-01-31T12:00:00Z) or "
                     "milliseconds since 1970, not '%s'",
                     s);
}

static int run_monitor(struct monitor *m, const char *cafile, long amqp_port)
{
    int rc = amqp_tls_domain(cafile, &m->ssl);
    if (rc != CLI_EXIT_OK)
        return rc;
    char port[16];
    snprintf(port, sizeof(port), "%ld", amqp_port);
    const char *bare = m->host;
    char unbracketed[CLI_HOST_MAX];
    if (m->host[0] == '[') { /* pn_proactor_addr wants an IPv6 literal without brackets */
        str_copy_n(unbracketed, sizeof(unbracketed), m->host + 1, strlen(m->host) - 2);
        bare = unbracketed;
    }
    pn_proactor_addr(m->addr, sizeof(m->addr), bare, port);

    m->proactor = pn_proactor();
    m->msg = pn_message();
    if (!m->proactor || !m->msg) {
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    m->conn = pn_connection();
    pn_transport_t *t = pn_transport();
    if (!m->conn || !t) {
        fprintf(stderr, "error: out of memory\n");
        if (m->conn)
            pn_connection_free(m->conn);
        if (t)
            pn_transport_free(t);
        m->conn = NULL;
        return CLI_EXIT_ERROR;
    }
    char container[64];
    random_name("iothub-cli", container, sizeof(container));
    random_name("iothub-monitor", m->receiver_name, sizeof(m->receiver_name));
    pn_connection_set_container(m->conn, container);
    pn_connection_set_hostname(m->conn, m->host);
    /* SASL ANONYMOUS with the policy name as its initial response, as @azure/event-hubs. */
    pn_connection_set_user(m->conn, m->policy);
    pn_sasl_allowed_mechs(pn_sasl(t), "ANONYMOUS");
    pn_transport_set_idle_timeout(t, IDLE_TIMEOUT_MS);
    if (pn_ssl_init(pn_ssl(t), m->ssl, NULL) != 0 || pn_ssl_set_peer_hostname(pn_ssl(t), bare)) {
        fprintf(stderr, "error: cannot set up TLS\n");
        pn_connection_free(m->conn);
        pn_transport_free(t);
        m->conn = NULL;
        return CLI_EXIT_ERROR;
    }
    pn_connection_open(m->conn);

    struct signal_watch watch = {0};
    if (signal_watch_start(&watch, m) != 0) {
        fprintf(stderr, "error: cannot watch for signals\n");
        pn_connection_free(m->conn);
        pn_transport_free(t);
        m->conn = NULL;
        return CLI_EXIT_ERROR;
    }
    m->started_ms = m->last_event_ms = time_now_ms();
    pn_proactor_connect2(m->proactor, m->conn, t, m->addr);
    while (!m->done) {
        arm_timer(m);
        pn_event_batch_t *batch = pn_proactor_wait(m->proactor);
        pn_event_t *e;
        while ((e = pn_event_batch_next(batch)) != NULL)
            handle(m, e);
        pn_proactor_done(m->proactor, batch);
    }
    signal_watch_stop(&watch);
    return m->failed ? m->rc : CLI_EXIT_OK;
}

static void monitor_free(struct monitor *m)
{
    if (m->proactor)
        pn_proactor_free(m->proactor);
    if (m->ssl)
        pn_ssl_domain_free(m->ssl);
    if (m->msg)
        pn_message_free(m->msg);
    if (m->sendbuf.start) {
        OPENSSL_cleanse(m->sendbuf.start, m->sendbuf.size);
        free(m->sendbuf.start);
    }
    free(m->recvbuf);
}

int cmd_monitor_events(struct cli *cli, int argc, char **argv)
{
    const char *cg = "$Default", *from_time = NULL;
    bool from_start = false, props = false;
    long timeout = 0, count = 0, amqp_port = EVENTHUB_AMQPS_PORT;
    const struct opt opts[] = {
        OPT_STRING("consumer-group", "NAME", &cg,
                   "read as this consumer group (default: $Default)"),
        OPT_FLAG("from-start", &from_start, "start at the oldest retained event (default: now)"),
        OPT_STRING("from-time", "TIME", &from_time,
                   "start after this enqueued time (ISO 8601, or ms since 1970)"),
        OPT_FLAG("props", &props, "also show properties, application properties, annotations"),
        OPT_LONG("timeout", "S", &timeout, 1, 86400 * 365,
                 "exit after S seconds without an event (default: run until stopped)"),
        OPT_LONG("count", "N", &count, 1, 1000000000, "exit after N events"),
        OPT_LONG("amqp-port", "N", &amqp_port, 1, 65535, "the hub's AMQP port (default: 5671)"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub monitor-events",
        .args = "[DEVICE_ID] [options]",
        .description =
            "Watch device-to-cloud messages as they arrive, through the hub's Event\n"
            "Hubs-compatible endpoint (AMQP over TLS, port 5671): every partition, from now\n"
            "on unless --from-start or --from-time says otherwise. Each event shows the\n"
            "device id, the enqueued time and the body (pretty JSON when it is JSON, else\n"
            "text, else hex); --props adds its properties. With DEVICE_ID only that device's\n"
            "events are shown. --json prints one JSON object per event and line. Ctrl-C\n"
            "stops cleanly; --count and --timeout stop on their own (exit code 0). The\n"
            "login's policy needs ServiceConnect.",
        .examples = "  iothub monitor-events\n"
                    "  iothub monitor-events sensor-1 --props\n"
                    "  iothub --json monitor-events --from-start --count 10 --timeout 30\n",
        .min_args = 0,
        .max_args = 1,
        .groups = groups,
    };
    struct monitor *m = NULL;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (from_start && from_time)
        return cli_opt_exit(opt_error(&cmd, "give '--from-start' or '--from-time', not both"));
    if (cg[0] == '\0' || strlen(cg) > 50 || strchr(cg, '/'))
        return cli_opt_exit(opt_error(&cmd, "'--consumer-group' is not a consumer group name"));
    int64_t from_ms = 0;
    if (from_time && parse_from_time(&cmd, from_time, &from_ms) != 0)
        return CLI_EXIT_USAGE;
    if (n == 1 && argv[0][0] == '\0')
        return cli_opt_exit(opt_error(&cmd, "the device id is empty"));

    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    m = calloc(1, sizeof(*m));
    if (!m) {
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    m->json = cli->json;
    m->props = props;
    m->device_filter = n == 1 ? argv[0] : NULL;
    m->consumer_group = cg;
    m->count = count;
    m->timeout_ms = timeout * 1000;
    m->policy = hub_policy(hub);
    m->key = hub_key(hub);
    m->rc = CLI_EXIT_OK;
    atomic_init(&m->interrupted, false);
    if (eventhub_names(hub_host(hub), m->host, sizeof(m->host), m->entity, sizeof(m->entity)) !=
        0) {
        fprintf(stderr, "error: cannot derive the host and hub names from HostName '%s'\n",
                hub_host(hub));
        free(m);
        return CLI_EXIT_USAGE;
    }
    if (from_start) {
        snprintf(m->filter, sizeof(m->filter), "amqp.annotation.x-opt-offset > '-1'");
        snprintf(m->position, sizeof(m->position), "the oldest retained event");
    } else if (from_time) {
        char when[ISOTIME_SIZE];
        snprintf(m->filter, sizeof(m->filter),
                 "amqp.annotation.x-opt-enqueued-time > '%" PRId64 "'", from_ms);
        snprintf(m->position, sizeof(m->position), "%s",
                 isotime_format(from_ms, when, sizeof(when)));
    } else {
        snprintf(m->filter, sizeof(m->filter), "amqp.annotation.x-opt-offset > '@latest'");
        snprintf(m->position, sizeof(m->position), "now");
    }
    const char *cafile = cli->cafile && cli->cafile[0] ? cli->cafile : NULL;
    rc = run_monitor(m, cafile, amqp_port);
    monitor_free(m);
    free(m);
    return rc;
}
