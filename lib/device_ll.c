/* The device client engine (do-work mode): MQTT 3.1.1 over TLS, QoS 1 telemetry with
 * at-least-once resend across reconnects, SAS renewal and retry policies. Everything runs
 * inside iothub_device_client_ll_do_work(); see iothub_device_client.h for the rules.
 * What the hub sends the device (C2D, methods, twin) is device_inbound.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/sas.h"
#include "common/urlcode.h"
#include "device_ll.h"
#include "mqtt/frame.h"

#define MQTT_PORT          8883
#define API_VERSION        "2021-04-12"
#define CLIENT_TYPE        "iothubd-libiothub%2F0.1"
#define MAX_INFLIGHT       64
#define OUT_HIGH_WATER     (256 * 1024)
#define MAX_IN_PACKET      (512 * 1024)
#define CONNECT_TIMEOUT_MS 30000
#define PING_TIMEOUT_MS    30000
#define DRAIN_TIMEOUT_MS   10000
#define READ_CHUNK         16384

/* ---- helpers --------------------------------------------------------------------------- */

static void pending_free(struct pending *p)
{
    free(p->topic);
    free(p->payload);
    free(p);
}

static void set_status(iothub_device_client_ll_t *c, iothub_connection_status_t s,
                       iothub_connection_status_reason_t r)
{
    if (c->status_known && c->status == s)
        return;
    c->status_known = true;
    c->status = s;
    if (c->opts.logtrace)
        iotlib_trace("connection status %s (%s)", iothub_connection_status_name(s),
                     iothub_connection_status_reason_name(r));
    if (c->status_cb)
        c->status_cb(s, r, c->status_ctx);
}

/* Unlinks every pending message matching pred into a local list, then confirms them with
 * result: callbacks may queue new messages, so the list is never walked during one. */
typedef bool (*pending_pred)(const iothub_device_client_ll_t *c, const struct pending *p,
                             int64_t now);

static void confirm_matching(iothub_device_client_ll_t *c, pending_pred pred, int64_t now,
                             iothub_confirmation_result_t result)
{
    struct pending *done = NULL, **done_tail = &done;
    struct pending **pp = &c->head, *prev = NULL;
    while (*pp) {
        struct pending *p = *pp;
        if (pred(c, p, now)) {
            *pp = p->next;
            if (c->tail == p)
                c->tail = prev;
            c->npending--;
            if (p->packet_id)
                c->ninflight--;
            p->next = NULL;
            *done_tail = p;
            done_tail = &p->next;
        } else {
            prev = p;
            pp = &p->next;
        }
    }
    while (done) {
        struct pending *p = done;
        done = p->next;
        if (c->opts.logtrace)
            iotlib_trace("confirm %s", iothub_confirmation_result_name(result));
        if (p->cb)
            p->cb(result, p->ctx);
        pending_free(p);
    }
}

static bool pred_all(const iothub_device_client_ll_t *c, const struct pending *p, int64_t now)
{
    (void)c;
    (void)p;
    (void)now;
    return true;
}

static bool pred_expired(const iothub_device_client_ll_t *c, const struct pending *p, int64_t now)
{
    return c->opts.message_timeout_ms > 0 &&
           now - p->enqueued_ms >= (int64_t)c->opts.message_timeout_ms;
}

int iotlib_ll_out_reserve(iothub_device_client_ll_t *c, size_t extra)
{
    if (c->out_len + extra <= c->out_cap)
        return 0;
    size_t ncap = c->out_cap ? c->out_cap : 4096;
    while (ncap < c->out_len + extra)
        ncap *= 2;
    uint8_t *n = realloc(c->out, ncap);
    if (!n)
        return IOTHUB_ENOMEM;
    c->out = n;
    c->out_cap = ncap;
    return 0;
}

uint16_t iotlib_ll_packet_id(iothub_device_client_ll_t *c)
{
    uint16_t id = c->next_packet_id;
    c->next_packet_id = (uint16_t)(id == 65535 ? 1 : id + 1);
    return id;
}

int iotlib_ll_queue_publish(iothub_device_client_ll_t *c, const struct mqtt_publish *p)
{
    if (iotlib_ll_out_reserve(c, 16 + p->topic.len + p->payload_len) != 0)
        return IOTHUB_ENOMEM;
    size_t w = mqtt_encode_publish(c->out + c->out_len, c->out_cap - c->out_len, p);
    if (w == 0)
        return IOTHUB_EINVAL;
    c->out_len += w;
    return 0;
}

/* ---- connection life cycle -------------------------------------------------------------- */

static void close_connection(iothub_device_client_ll_t *c)
{
    iotlib_conn_close(&c->conn);
    if (c->out_len)
        OPENSSL_cleanse(c->out, c->out_len); /* may hold the CONNECT password */
    c->out_len = 0;
    c->in_len = 0;
    c->ping_outstanding = false;
    for (struct pending *p = c->head; p; p = p->next)
        p->packet_id = 0;
    c->ninflight = 0;
    iotlib_inbound_on_closed(c);
}

static void give_up(iothub_device_client_ll_t *c, iothub_connection_status_reason_t reason)
{
    c->st = ST_IDLE;
    c->attempt = 0;
    c->retry_start_ms = 0;
    c->gave_up = true;
    set_status(c, IOTHUB_CONNECTION_UNAUTHENTICATED, reason);
    confirm_matching(c, pred_all, 0, IOTHUB_CONFIRMATION_ERROR);
    iotlib_inbound_fail_all(c, IOTLIB_STATUS_FAILURE);
}

/* The connection failed or was lost: schedule the next attempt under the retry policy. */
static void connection_failed(iothub_device_client_ll_t *c, iothub_connection_status_reason_t r,
                              bool was_established)
{
    int64_t now = iotlib_now_ms();
    close_connection(c);
    set_status(c, IOTHUB_CONNECTION_UNAUTHENTICATED, r);
    if (c->opts.retry_policy == IOTHUB_RETRY_NONE) {
        give_up(c, r);
        return;
    }
    if (c->retry_start_ms == 0)
        c->retry_start_ms = now;
    if (c->opts.retry_timeout_s > 0 &&
        now - c->retry_start_ms >= (int64_t)c->opts.retry_timeout_s * 1000) {
        give_up(c, IOTHUB_CONNECTION_RETRY_EXPIRED);
        return;
    }
    int64_t delay = 0;
    if (was_established) {
        c->attempt = 0; /* the first reconnect after a loss is immediate */
    } else {
        c->attempt++;
        delay = iotlib_retry_delay_ms(c->opts.retry_policy, c->attempt, iotlib_random_unit());
        if (delay < 0)
            delay = 0;
    }
    if (c->opts.logtrace)
        iotlib_trace("reconnect in %lld ms (attempt %u)", (long long)delay, c->attempt + 1);
    c->next_attempt_ms = now + delay;
    c->st = ST_WAIT_RETRY;
}

/* The CONNECT user name, as the C SDK builds it: host, device, API version, client type and
 * the percent-encoded model id when one is set. Caller frees; NULL when out of memory. */
static char *connect_username(const iothub_device_client_ll_t *c, size_t *len)
{
    const char *model_id = c->opts.model_id;
    size_t model_cap = model_id ? 3 * strlen(model_id) + 1 : 1;
    size_t cap = 64 + strlen(c->auth.host) + strlen(c->auth.device_id) + strlen(API_VERSION) +
                 strlen(CLIENT_TYPE) + model_cap;
    char *user = malloc(cap), *encoded = malloc(model_cap);
    int n = -1;
    if (user && encoded) {
        encoded[0] = '\0';
        if (!model_id || url_encode_component(model_id, strlen(model_id), encoded, model_cap) >= 0)
            n = snprintf(user, cap, "%s/%s/?api-version=%s&DeviceClientType=%s%s%s", c->auth.host,
                         c->auth.device_id, API_VERSION, CLIENT_TYPE, model_id ? "&model-id=" : "",
                         encoded);
    }
    free(encoded);
    if (n < 0 || (size_t)n >= cap) {
        free(user);
        return NULL;
    }
    *len = (size_t)n;
    return user;
}

static int queue_connect(iothub_device_client_ll_t *c)
{
    size_t n = 0;
    char *username = connect_username(c, &n);
    if (!username)
        return IOTHUB_ENOMEM;
    char *password = NULL;
    size_t password_len = 0;
    int rc = 0;
    c->renew_at_ms = 0;
    if (c->auth.key) {
        password = malloc(SAS_TOKEN_MAX);
        if (!password) {
            free(username);
            return IOTHUB_ENOMEM;
        }
        char resource[512];
        snprintf(resource, sizeof(resource), "%s/devices/%s", c->auth.host, c->auth.device_id);
        int64_t expiry = (int64_t)time(NULL) + (int64_t)c->opts.sas_lifetime_s;
        int len = sas_build(resource, c->auth.key, NULL, expiry, password, SAS_TOKEN_MAX);
        if (len < 0) {
            rc = IOTHUB_EKEY;
            goto out_password;
        }
        password_len = (size_t)len;
        c->renew_at_ms = iotlib_now_ms() + (int64_t)c->opts.sas_lifetime_s * 800;
    } else if (c->auth.token) {
        password = c->auth.token;
        password_len = strlen(password);
    }
    struct mqtt_connect mc = {
        .clean_session = false,
        .keepalive = (uint16_t)c->opts.keepalive_s,
        .client_id = {c->auth.device_id, strlen(c->auth.device_id)},
        .has_username = true,
        .username = {username, n},
        .has_password = password != NULL,
        .password = {password, password_len},
    };
    size_t need = 64 + n + strlen(c->auth.device_id) + password_len;
    if ((rc = iotlib_ll_out_reserve(c, need)) != 0)
        goto out_password;
    size_t w = mqtt_encode_connect(c->out + c->out_len, c->out_cap - c->out_len, &mc);
    if (w == 0) {
        rc = IOTHUB_EINVAL;
        goto out_password;
    }
    c->out_len += w;
    if (c->opts.logtrace)
        iotlib_trace("-> CONNECT client_id=%s username=%s keepalive=%d clean_session=0",
                     c->auth.device_id, username, c->opts.keepalive_s);
out_password:
    if (password && password != c->auth.token) {
        OPENSSL_cleanse(password, SAS_TOKEN_MAX);
        free(password);
    }
    free(username);
    return rc;
}

static void start_attempt(iothub_device_client_ll_t *c)
{
    if (c->retry_start_ms == 0)
        c->retry_start_ms = iotlib_now_ms();
    if (c->opts.logtrace)
        iotlib_trace("connecting to %s:%d", c->auth.host, MQTT_PORT);
    int rc = iotlib_conn_start(&c->conn, c->auth.host, MQTT_PORT, &c->opts);
    if (rc) {
        connection_failed(c, IOTHUB_CONNECTION_NO_NETWORK, false);
        return;
    }
    c->connect_deadline_ms = iotlib_now_ms() + CONNECT_TIMEOUT_MS;
    c->st = ST_CONNECTING;
}

/* ---- output ----------------------------------------------------------------------------- */

static void queue_publishes(iothub_device_client_ll_t *c)
{
    if (c->st != ST_CONNECTED)
        return;
    for (struct pending *p = c->head; p; p = p->next) {
        if (c->ninflight >= MAX_INFLIGHT || c->out_len >= OUT_HIGH_WATER)
            return;
        if (p->packet_id)
            continue;
        uint16_t id = c->next_packet_id;
        struct mqtt_publish pub = {
            .dup = p->ever_sent,
            .qos = 1,
            .topic = {p->topic, strlen(p->topic)},
            .packet_id = id,
            .payload = p->payload,
            .payload_len = p->payload_len,
        };
        size_t need = 16 + pub.topic.len + p->payload_len;
        if (iotlib_ll_out_reserve(c, need) != 0)
            return; /* try again on the next do_work */
        size_t w = mqtt_encode_publish(c->out + c->out_len, c->out_cap - c->out_len, &pub);
        if (w == 0)
            return;
        c->out_len += w;
        (void)iotlib_ll_packet_id(c); /* id is taken */
        p->packet_id = id;
        p->ever_sent = true;
        c->ninflight++;
        if (c->opts.logtrace)
            iotlib_trace("-> PUBLISH qos=1 id=%u dup=%d topic=%s len=%zu", id, pub.dup, p->topic,
                         p->payload_len);
    }
}

static bool queue_small(iothub_device_client_ll_t *c, enum mqtt_type type)
{
    if (iotlib_ll_out_reserve(c, 2) != 0)
        return false;
    c->out_len += mqtt_encode_empty(c->out + c->out_len, c->out_cap - c->out_len, type);
    return true;
}

/* Returns 0 or IOTHUB_ENETWORK. */
static int flush(iothub_device_client_ll_t *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t n = iotlib_conn_write(&c->conn, c->out + off, c->out_len - off);
        if (n < 0)
            return IOTHUB_ENETWORK;
        if (n == 0)
            break;
        off += (size_t)n;
        c->last_tx_ms = iotlib_now_ms();
    }
    if (off > 0) {
        memmove(c->out, c->out + off, c->out_len - off);
        c->out_len -= off;
    }
    return 0;
}

/* ---- input ------------------------------------------------------------------------------ */

static void on_puback(iothub_device_client_ll_t *c, uint16_t id)
{
    struct pending **pp = &c->head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        struct pending *p = *pp;
        if (p->packet_id != id)
            continue;
        *pp = p->next;
        if (c->tail == p)
            c->tail = prev;
        c->npending--;
        c->ninflight--;
        if (c->opts.logtrace)
            iotlib_trace("<- PUBACK id=%u", id);
        if (p->cb)
            p->cb(IOTHUB_CONFIRMATION_OK, p->ctx);
        pending_free(p);
        return;
    }
    if (c->opts.logtrace)
        iotlib_trace("<- PUBACK id=%u (no pending message; timed out earlier)", id);
}

/* Handles one packet; returns 0, or -1 when the connection was closed. */
static int on_packet(iothub_device_client_ll_t *c, const struct mqtt_packet *pkt)
{
    switch (pkt->type) {
    case MQTT_CONNACK:
        if (c->st != ST_WAIT_CONNACK)
            goto protocol_error;
        if (c->opts.logtrace)
            iotlib_trace("<- CONNACK code=%u", pkt->u.connack.return_code);
        if (pkt->u.connack.return_code == MQTT_CONNACK_ACCEPTED) {
            c->st = ST_CONNECTED;
            c->attempt = 0;
            c->retry_start_ms = 0;
            iotlib_inbound_on_connected(c, iotlib_now_ms());
            set_status(c, IOTHUB_CONNECTION_AUTHENTICATED, IOTHUB_CONNECTION_OK);
            return 0;
        }
        if (pkt->u.connack.return_code == MQTT_CONNACK_UNAVAILABLE) {
            connection_failed(c, IOTHUB_CONNECTION_COMMUNICATION_ERROR, false);
            return -1;
        }
        close_connection(c);
        give_up(c, c->auth.token ? IOTHUB_CONNECTION_EXPIRED_SAS_TOKEN
                                 : IOTHUB_CONNECTION_BAD_CREDENTIAL);
        return -1;
    case MQTT_PUBACK:
        on_puback(c, pkt->u.packet_id);
        return 0;
    case MQTT_PINGRESP:
        c->ping_outstanding = false;
        return 0;
    case MQTT_PUBLISH:
        if (c->st != ST_CONNECTED && c->st != ST_DRAINING)
            goto protocol_error;
        iotlib_inbound_on_publish(c, &pkt->u.publish);
        return 0;
    case MQTT_SUBACK:
        iotlib_inbound_on_suback(c, &pkt->u.list);
        return 0;
    case MQTT_UNSUBACK:
        return 0;
    default:
        goto protocol_error;
    }
protocol_error:
    if (c->opts.logtrace)
        iotlib_trace("<- unexpected packet type %d", (int)pkt->type);
    connection_failed(c, IOTHUB_CONNECTION_COMMUNICATION_ERROR, c->st == ST_CONNECTED);
    return -1;
}

/* Reads what is available and handles whole packets. Returns 0 or -1 (connection gone). */
static int read_input(iothub_device_client_ll_t *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < READ_CHUNK) {
            size_t ncap = c->in_cap ? c->in_cap * 2 : 2 * READ_CHUNK;
            if (ncap > MAX_IN_PACKET + 2 * READ_CHUNK) {
                if (c->in_cap - c->in_len == 0)
                    goto protocol_error;
                ncap = c->in_cap;
            }
            if (ncap != c->in_cap) {
                uint8_t *n = realloc(c->in, ncap);
                if (!n)
                    return 0; /* retry on the next do_work */
                c->in = n;
                c->in_cap = ncap;
            }
        }
        ssize_t n = iotlib_conn_read(&c->conn, c->in + c->in_len, c->in_cap - c->in_len);
        if (n < 0) {
            bool established = c->st == ST_CONNECTED || c->st == ST_DRAINING;
            if (c->opts.logtrace)
                iotlib_trace("connection lost");
            connection_failed(c, IOTHUB_CONNECTION_COMMUNICATION_ERROR, established);
            return -1;
        }
        if (n == 0)
            return 0;
        c->in_len += (size_t)n;
        size_t off = 0;
        for (;;) {
            size_t total;
            int fr = mqtt_frame_size(c->in + off, c->in_len - off, MAX_IN_PACKET, &total);
            if (fr < 0)
                goto protocol_error;
            if (fr == 0 || c->in_len - off < total)
                break;
            struct mqtt_packet pkt;
            int pr = mqtt_parse(c->in + off, total, MAX_IN_PACKET, &pkt);
            if (pr <= 0)
                goto protocol_error;
            off += total;
            if (on_packet(c, &pkt) != 0)
                return -1;
        }
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
protocol_error:
    if (c->opts.logtrace)
        iotlib_trace("malformed input from the hub");
    connection_failed(c, IOTHUB_CONNECTION_COMMUNICATION_ERROR,
                      c->st == ST_CONNECTED || c->st == ST_DRAINING);
    return -1;
}

/* ---- do_work ---------------------------------------------------------------------------- */

/* Telemetry to send, a reported state to send, or a callback waiting for the hub. */
static bool wants_connection(const iothub_device_client_ll_t *c)
{
    return c->npending > 0 || iotlib_inbound_wants_connection(c);
}

void iothub_device_client_ll_do_work(iothub_device_client_ll_t *c)
{
    if (!c)
        return;
    int64_t now = iotlib_now_ms();
    confirm_matching(c, pred_expired, now, IOTHUB_CONFIRMATION_MESSAGE_TIMEOUT);
    iotlib_inbound_expire(c, now);

    if (c->st == ST_IDLE && wants_connection(c)) {
        start_attempt(c);
    } else if (c->st == ST_WAIT_RETRY && now >= c->next_attempt_ms) {
        start_attempt(c);
    }

    if (c->st == ST_CONNECTING) {
        int r = iotlib_conn_progress(&c->conn);
        if (r < 0) {
            connection_failed(c, IOTHUB_CONNECTION_NO_NETWORK, false);
            return;
        }
        if (r == 1) {
            int rc = queue_connect(c);
            if (rc) {
                close_connection(c);
                give_up(c, IOTHUB_CONNECTION_BAD_CREDENTIAL);
                return;
            }
            c->st = ST_WAIT_CONNACK;
        } else if (now >= c->connect_deadline_ms) {
            connection_failed(c, IOTHUB_CONNECTION_NO_NETWORK, false);
            return;
        }
    }
    if (c->st != ST_WAIT_CONNACK && c->st != ST_CONNECTED && c->st != ST_DRAINING)
        return;

    if (read_input(c) != 0)
        return;
    now = iotlib_now_ms();
    if (c->st == ST_WAIT_CONNACK && now >= c->connect_deadline_ms) {
        connection_failed(c, IOTHUB_CONNECTION_NO_NETWORK, false);
        return;
    }
    if (c->st == ST_CONNECTED && c->renew_at_ms && now >= c->renew_at_ms) {
        if (c->opts.logtrace)
            iotlib_trace("SAS token renewal: draining before reconnecting");
        c->st = ST_DRAINING;
        c->drain_deadline_ms = now + DRAIN_TIMEOUT_MS;
    }
    if (c->st == ST_DRAINING && (c->ninflight == 0 || now >= c->drain_deadline_ms)) {
        if (queue_small(c, MQTT_DISCONNECT)) {
            if (c->opts.logtrace)
                iotlib_trace("-> DISCONNECT");
            (void)flush(c);
        }
        close_connection(c);
        set_status(c, IOTHUB_CONNECTION_UNAUTHENTICATED, IOTHUB_CONNECTION_EXPIRED_SAS_TOKEN);
        c->attempt = 0;
        c->retry_start_ms = 0;
        c->st = ST_WAIT_RETRY;
        c->next_attempt_ms = now;
        return;
    }
    queue_publishes(c);
    if (c->st == ST_CONNECTED)
        iotlib_inbound_queue_output(c, now);
    if (c->st == ST_CONNECTED && c->opts.keepalive_s > 0) {
        if (c->ping_outstanding && now - c->ping_sent_ms >= PING_TIMEOUT_MS) {
            if (c->opts.logtrace)
                iotlib_trace("no PINGRESP");
            connection_failed(c, IOTHUB_CONNECTION_NO_PING_RESPONSE, true);
            return;
        }
        if (!c->ping_outstanding && now - c->last_tx_ms >= (int64_t)c->opts.keepalive_s * 1000 &&
            queue_small(c, MQTT_PINGREQ)) {
            if (c->opts.logtrace)
                iotlib_trace("-> PINGREQ");
            c->ping_outstanding = true;
            c->ping_sent_ms = now;
        }
    }
    if (flush(c) != 0) {
        bool established = c->st == ST_CONNECTED || c->st == ST_DRAINING;
        connection_failed(c, IOTHUB_CONNECTION_COMMUNICATION_ERROR, established);
    }
}

static int64_t min_deadline(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

int iothub_device_client_ll_get_poll(iothub_device_client_ll_t *c, int *fd, bool *want_write,
                                     int *timeout_ms)
{
    if (!c || !fd || !want_write || !timeout_ms)
        return IOTHUB_EINVAL;
    int64_t now = iotlib_now_ms();
    int64_t deadline = -1;
    *fd = -1;
    *want_write = false;
    if (c->opts.message_timeout_ms > 0)
        for (struct pending *p = c->head; p; p = p->next)
            deadline = min_deadline(deadline, p->enqueued_ms + (int64_t)c->opts.message_timeout_ms);
    deadline = min_deadline(deadline, iotlib_inbound_deadline(c));
    switch (c->st) {
    case ST_IDLE:
        if (wants_connection(c))
            deadline = now;
        break;
    case ST_WAIT_RETRY:
        deadline = min_deadline(deadline, c->next_attempt_ms);
        break;
    case ST_CONNECTING:
    case ST_WAIT_CONNACK:
        *fd = c->conn.fd;
        *want_write = c->conn.want_write || c->out_len > 0;
        deadline = min_deadline(deadline, c->connect_deadline_ms);
        /* The TCP phase is checked with poll(0) inside do_work: come back soon. */
        if (c->conn.phase == IOTLIB_CONN_TCP)
            *want_write = true;
        break;
    case ST_CONNECTED:
    case ST_DRAINING:
        *fd = c->conn.fd;
        *want_write = c->conn.want_write || c->out_len > 0;
        if (c->st == ST_DRAINING)
            deadline = min_deadline(deadline, c->drain_deadline_ms);
        else if (c->renew_at_ms)
            deadline = min_deadline(deadline, c->renew_at_ms);
        if (c->opts.keepalive_s > 0)
            deadline = min_deadline(deadline, c->ping_outstanding
                                                  ? c->ping_sent_ms + PING_TIMEOUT_MS
                                                  : c->last_tx_ms + c->opts.keepalive_s * 1000LL);
        /* Messages waiting for room in the in-flight window are sent once PUBACKs come. */
        break;
    }
    if (deadline < 0)
        *timeout_ms = -1;
    else if (deadline <= now)
        *timeout_ms = 0;
    else
        *timeout_ms = deadline - now > 3600000 ? 3600000 : (int)(deadline - now);
    return 0;
}

/* ---- public API ----------------------------------------------------------------------- */

static int ll_new(iothub_device_client_ll_t **out, struct iotlib_device_auth *auth,
                  iothub_transport_t transport)
{
    if (transport == IOTHUB_TRANSPORT_HTTP || transport == IOTHUB_TRANSPORT_AMQP) {
        iotlib_device_auth_free(auth);
        return IOTHUB_ETRANSPORT;
    }
    if (transport != IOTHUB_TRANSPORT_MQTT) {
        iotlib_device_auth_free(auth);
        return IOTHUB_EINVAL;
    }
    int rc = iotlib_global_init_once();
    if (rc) {
        iotlib_device_auth_free(auth);
        return rc;
    }
    iothub_device_client_ll_t *c = calloc(1, sizeof(*c));
    if (!c) {
        iotlib_device_auth_free(auth);
        return IOTHUB_ENOMEM;
    }
    c->auth = *auth;
    memset(auth, 0, sizeof(*auth));
    iotlib_options_init(&c->opts);
    c->conn.fd = -1;
    c->next_packet_id = 1;
    c->next_rid = 1;
    c->twin_get_due_ms = -1;
    c->st = ST_IDLE;
    *out = c;
    return 0;
}

int iothub_device_client_ll_create_from_connection_string(iothub_device_client_ll_t **out,
                                                          const char *connection_string,
                                                          iothub_transport_t transport)
{
    if (!out || !connection_string)
        return IOTHUB_EINVAL;
    struct iotlib_device_auth auth;
    int rc = iotlib_device_auth_parse(connection_string, &auth);
    if (rc)
        return rc;
    return ll_new(out, &auth, transport);
}

int iothub_device_client_ll_create_with_key(iothub_device_client_ll_t **out, const char *host,
                                            const char *device_id, const char *key_b64,
                                            iothub_transport_t transport)
{
    if (!out)
        return IOTHUB_EINVAL;
    struct iotlib_device_auth auth;
    int rc = iotlib_device_auth_from_parts(host, device_id, key_b64, &auth);
    if (rc)
        return rc;
    return ll_new(out, &auth, transport);
}

void iothub_device_client_ll_destroy(iothub_device_client_ll_t *c)
{
    if (!c)
        return;
    if (c->st == ST_CONNECTED || c->st == ST_DRAINING) {
        /* Best effort: a DISCONNECT in the socket's buffer, no waiting. */
        if (queue_small(c, MQTT_DISCONNECT))
            (void)flush(c);
    }
    close_connection(c);
    confirm_matching(c, pred_all, 0, IOTHUB_CONFIRMATION_BECAUSE_DESTROY);
    iotlib_inbound_fail_all(c, IOTLIB_STATUS_TIMEOUT);
    iotlib_inbound_free(c);
    iotlib_options_free(&c->opts);
    iotlib_device_auth_free(&c->auth);
    free(c->out);
    free(c->in);
    free(c);
}

static int ll_set_option(iothub_device_client_ll_t *c, const char *name,
                         const struct iotlib_optval *v)
{
    if (!c || !name)
        return IOTHUB_EINVAL;
    int rc = iotlib_options_set(&c->opts, name, v);
    if (rc == 0 && c->opts.logtrace && strcmp(name, IOTHUB_OPTION_LOG_TRACE) != 0)
        iotlib_trace("option %s set", name);
    return rc;
}

int iothub_device_client_ll_set_option(iothub_device_client_ll_t *c, const char *name,
                                       const void *value)
{
    struct iotlib_optval v = {.kind = IOTLIB_OPT_PTR, .ptr = value};
    return ll_set_option(c, name, &v);
}

int iothub_device_client_ll_set_option_int(iothub_device_client_ll_t *c, const char *name,
                                           int64_t value)
{
    struct iotlib_optval v = {.kind = IOTLIB_OPT_INT, .i = value};
    return ll_set_option(c, name, &v);
}

int iothub_device_client_ll_set_option_string(iothub_device_client_ll_t *c, const char *name,
                                              const char *value)
{
    struct iotlib_optval v = {.kind = IOTLIB_OPT_STRING, .s = value};
    return ll_set_option(c, name, &v);
}

int iothub_device_client_ll_set_retry_policy(iothub_device_client_ll_t *c,
                                             iothub_retry_policy_t policy,
                                             size_t retry_timeout_limit_s)
{
    if (!c || !iotlib_retry_policy_valid((int)policy) || retry_timeout_limit_s > INT32_MAX)
        return IOTHUB_EINVAL;
    c->opts.retry_policy = policy;
    c->opts.retry_timeout_s = retry_timeout_limit_s;
    return 0;
}

int iothub_device_client_ll_get_retry_policy(iothub_device_client_ll_t *c,
                                             iothub_retry_policy_t *policy,
                                             size_t *retry_timeout_limit_s)
{
    if (!c || !policy || !retry_timeout_limit_s)
        return IOTHUB_EINVAL;
    *policy = c->opts.retry_policy;
    *retry_timeout_limit_s = c->opts.retry_timeout_s;
    return 0;
}

int iothub_device_client_ll_send_event_async(iothub_device_client_ll_t *c,
                                             const iothub_message_t *msg,
                                             iothub_send_confirmation_cb callback, void *ctx)
{
    if (!c || !msg)
        return IOTHUB_EINVAL;
    const uint8_t *body;
    size_t len;
    int rc = iothub_message_get_body(msg, &body, &len);
    if (rc)
        return rc;
    size_t props = 0;
    for (size_t i = 0; i < iothub_message_property_count(msg); i++) {
        const char *k, *v;
        iothub_message_property_at(msg, i, &k, &v);
        props += strlen(k) + strlen(v);
    }
    if (len + props > IOTHUB_MESSAGE_MAX_SIZE)
        return IOTHUB_ETOOBIG;
    /* Bag: every byte may become %XX; plus separators and the system properties. */
    size_t bag_cap = 3 * (props + 4 * 1024) + 4 * IOTHUB_MESSAGE_MAX_PROPERTIES + 64;
    size_t prefix_len =
        strlen("devices/") + strlen(c->auth.device_id) + strlen("/messages/events/");
    struct pending *p = calloc(1, sizeof(*p));
    if (!p)
        return IOTHUB_ENOMEM;
    rc = IOTHUB_ENOMEM;
    p->topic = malloc(prefix_len + bag_cap);
    p->payload = malloc(len ? len : 1);
    if (!p->topic || !p->payload)
        goto fail_pending;
    int n = snprintf(p->topic, prefix_len + 1, "devices/%s/messages/events/", c->auth.device_id);
    if (n < 0 || (size_t)n != prefix_len) {
        rc = IOTHUB_EINVAL;
        goto fail_pending;
    }
    int bag = iothub_message_encode_property_bag(msg, p->topic + prefix_len, bag_cap);
    if (bag < 0) {
        rc = bag;
        goto fail_pending;
    }
    char *shrunk = realloc(p->topic, prefix_len + (size_t)bag + 1);
    if (shrunk)
        p->topic = shrunk;
    if (len)
        memcpy(p->payload, body, len);
    p->payload_len = len;
    p->cb = callback;
    p->ctx = ctx;
    p->enqueued_ms = iotlib_now_ms();
    if (c->tail)
        c->tail->next = p;
    else
        c->head = p;
    c->tail = p;
    c->npending++;
    c->gave_up = false;
    return 0;

fail_pending:
    pending_free(p);
    return rc;
}

int iothub_device_client_ll_get_send_status(iothub_device_client_ll_t *c,
                                            iothub_send_status_t *status)
{
    if (!c || !status)
        return IOTHUB_EINVAL;
    *status = c->npending > 0 ? IOTHUB_SEND_STATUS_BUSY : IOTHUB_SEND_STATUS_IDLE;
    return 0;
}

int iothub_device_client_ll_set_connection_status_callback(iothub_device_client_ll_t *c,
                                                           iothub_connection_status_cb callback,
                                                           void *ctx)
{
    if (!c)
        return IOTHUB_EINVAL;
    c->status_cb = callback;
    c->status_ctx = ctx;
    return 0;
}
