/* CONNECT: identity, authentication, session, one connection per device (spec 2.2-2.5).
 * Every authentication failure answers CONNACK 5 (the SDKs decide whether to retry from
 * the code), then the socket closes. */
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "hub/hub.h"
#include "hub/mqtt/conn.h"
#include "hub/mqtt/endpoint.h"
#include "hub/mqtt/username.h"
#include "hub/presence.h"
#include "hub/throttle.h"
#include "store/eventlog.h"

static int refuse(struct mqtt_conn *c, uint8_t code, const char *client_id, const char *reason)
{
    char quoted[512];
    log_info("mqtt connect refused", "device=%s peer=%s connack=%u reason=%s", client_id,
             mqtt_conn_peer(c), code, log_quote(reason, quoted, sizeof(quoted)));
    uint8_t ack[4];
    mqtt_conn_send(c, ack, mqtt_encode_connack(ack, sizeof(ack), false, code));
    mqtt_conn_close_after_flush(c, "connect refused");
    return -1;
}

static bool authenticate(struct mqtt_conn *c, const struct mqtt_connect *p, const char *client_id,
                         char *reason, size_t cap)
{
    const struct hub *hub = c->mt->ep->hub;
    if (p->has_password)
        return device_auth_sas(hub, client_id, p->password.ptr, p->password.len,
                               time_now_ms() / 1000, &c->id, reason, cap);
    X509 *cert = NULL;
    if (c->tls) {
        SSL *ssl = mqtt_conn_ssl(c);
        cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    }
    bool ok = device_auth_x509(hub, client_id, cert, &c->id, reason, cap);
    X509_free(cert);
    return ok;
}

/* Loads (clean session 0) or discards (clean session 1) the stored session. */
static bool open_session(struct mqtt_conn *c)
{
    struct registry *reg = c->mt->ep->hub->registry;
    bool exists = false;
    if (c->clean_session) {
        registry_delete_session(reg, c->id.device_id);
        c->subscriptions = 0;
        return false;
    }
    if (registry_get_session(reg, c->id.device_id, &c->subscriptions, &exists) != REG_OK)
        c->subscriptions = 0;
    return exists;
}

int mqtt_handle_connect(struct mqtt_conn *c, const struct mqtt_connect *p)
{
    struct mqtt_endpoint *ep = c->mt->ep;
    char client_id[DEVICE_ID_MAX + 1] = "-";
    char reason[512];
    if (!str_copy_n(client_id, sizeof(client_id), p->client_id.ptr, p->client_id.len) ||
        !device_id_valid(client_id))
        return refuse(c, MQTT_CONNACK_ID_REJECTED, "-",
                      "the client id is not a valid device id (modules are not served yet)");
    if (!p->has_username)
        return refuse(c, MQTT_CONNACK_NOT_AUTHORIZED, client_id,
                      "no user name: send {host}/{deviceId}/?api-version=...");
    if (!device_auth_username_ok(ep->hub, p->username.ptr, p->username.len, client_id, reason,
                                 sizeof(reason)))
        return refuse(c, MQTT_CONNACK_NOT_AUTHORIZED, client_id, reason);
    /* Telemetry of the connection carries it as dt-dataschema (spec 2.2, 5.4). */
    if (mqtt_username_model_id(p->username.ptr, p->username.len, &c->model_id) < 0)
        return refuse(c, MQTT_CONNACK_NOT_AUTHORIZED, client_id,
                      "the user name's model-id is not valid percent-encoding or is longer "
                      "than 4096 characters");
    if (!authenticate(c, p, client_id, reason, sizeof(reason)))
        return refuse(c, MQTT_CONNACK_NOT_AUTHORIZED, client_id, reason);
    /* Counted once authenticated, so that a flood of bad credentials (answered 5 anyway)
     * cannot use up the rate of real devices. 3 is what the SDKs retry (spec 2.3). */
    struct hub_throttle *throttle = ep->hub->throttle;
    if (throttle &&
        !throttle_try_shared(&throttle->connects_hub, &throttle->connects_hub_tat, time_mono_ns()))
        return refuse(c, MQTT_CONNACK_UNAVAILABLE, client_id,
                      "throttled: more new device connections per second than "
                      "--throttle-connects-per-hub allows; the device retries");

    int64_t keepalive_s = p->keepalive ? p->keepalive : MQTT_KEEPALIVE_CAP_S;
    c->keepalive_ms = keepalive_s * 1500;
    if (c->keepalive_ms > (int64_t)MQTT_KEEPALIVE_CAP_S * 1000)
        c->keepalive_ms = (int64_t)MQTT_KEEPALIVE_CAP_S * 1000;
    c->clean_session = p->clean_session;
    bool session_present = open_session(c);
    c->partition =
        eventlog_partition_for(ep->hub->eventlog, c->id.device_id, strlen(c->id.device_id));

    int status;
    struct mqtt_conn *old = device_map_put(&ep->devices, c->id.device_id, c, &status);
    if (status != 0)
        return refuse(c, MQTT_CONNACK_UNAVAILABLE, client_id, "out of memory");
    if (old) {
        mqtt_conn_post_close(old, "replaced by a newer connection of the same device");
        mqtt_conn_unref(old);
    }
    c->registered = true;
    c->state = CONN_ACTIVE;
    int64_t now = time_now_ms();
    c->last_touch_ms = now;
    presence_connected(ep->hub->presence, c->id.device_id, now, c->model_id);

    uint8_t ack[4];
    mqtt_conn_send(c, ack,
                   mqtt_encode_connack(ack, sizeof(ack), session_present, MQTT_CONNACK_ACCEPTED));
    mqtt_conn_schedule_timer(c);
    mqtt_c2d_resume(c);
    mqtt_twin_resume(c);
    mqtt_methods_device_ready(c);
    log_info("mqtt device connected",
             "device=%s peer=%s tls=%s clean_session=%d keepalive_s=%d session_present=%d",
             c->id.device_id, mqtt_conn_peer(c), c->tls ? "yes" : "no", c->clean_session,
             p->keepalive, session_present);
    return 0;
}
