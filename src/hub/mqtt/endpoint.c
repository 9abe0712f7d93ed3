#include "hub/mqtt/endpoint.h"

#include <arpa/inet.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "hub/hub.h"
#include "hub/mqtt/conn.h"
#include "hub/net/accept.h"
#include "hub/net/listener.h"
#include "hub/net/threads.h"
#include "hub/tls/context.h"

/* Any certificate is let through the handshake: which one a device may present is decided
 * at CONNECT against its registered thumbprints. */
static int accept_any_certificate(int preverify_ok, X509_STORE_CTX *ctx)
{
    (void)preverify_ok;
    (void)ctx;
    return 1;
}

int mqtt_endpoint_init(struct mqtt_endpoint *ep, struct hub *hub, char *err, size_t errlen)
{
    memset(ep, 0, sizeof(*ep));
    ep->hub = hub;
    ep->tls_fd = ep->plain_fd = -1;
    if (device_map_init(&ep->devices) != 0) {
        snprintf(err, errlen, "out of memory creating the device map");
        return -1;
    }
    const struct hub_config *cfg = hub->cfg;
    if (cfg->mqtt_port > 0) {
        ep->ssl_ctx = tls_server_context(hub->tls_cert_path, hub->tls_key_path, err, errlen);
        if (!ep->ssl_ctx)
            return -1;
        SSL_CTX_set_verify(ep->ssl_ctx, SSL_VERIFY_PEER, accept_any_certificate);
        SSL_CTX_set_session_id_context(ep->ssl_ctx, (const unsigned char *)"iothubd-mqtt", 12);
        ep->tls_fd = listener_open(cfg->bind_address, cfg->mqtt_port, "--mqtt-port", err, errlen);
        if (ep->tls_fd < 0)
            return -1;
    }
    if (cfg->mqtt_plain_port > 0) {
        ep->plain_fd = listener_open(cfg->bind_address, cfg->mqtt_plain_port, "--mqtt-plain-port",
                                     err, errlen);
        if (ep->plain_fd < 0)
            return -1;
    }
    return 0;
}

void mqtt_endpoint_free(struct mqtt_endpoint *ep)
{
    if (ep->tls_fd >= 0)
        close(ep->tls_fd);
    if (ep->plain_fd >= 0)
        close(ep->plain_fd);
    ep->tls_fd = ep->plain_fd = -1;
    if (ep->ssl_ctx)
        SSL_CTX_free(ep->ssl_ctx);
    ep->ssl_ctx = NULL;
    device_map_free(&ep->devices);
}

static void on_accept_tls(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                          int len, void *arg)
{
    (void)l;
    (void)len;
    char peer[64];
    net_format_peer(sa, peer, sizeof(peer));
    mqtt_conn_accept(arg, fd, true, peer);
}

static void on_accept_plain(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                            int len, void *arg)
{
    (void)l;
    (void)len;
    char peer[64];
    net_format_peer(sa, peer, sizeof(peer));
    mqtt_conn_accept(arg, fd, false, peer);
}

int mqtt_thread_attach(struct net_thread *t, char *err, size_t errlen)
{
    struct mqtt_endpoint *ep = t->hub->mqtt;
    struct mqtt_thread *mt = calloc(1, sizeof(*mt));
    if (!mt)
        goto fail;
    t->mqtt = mt;
    mt->thread = t;
    mt->ep = ep;
    /* Decoding a bag needs at most its length plus two NULs per entry. */
    mt->scratch_cap = MQTT_PACKET_MAX + 2 * (MQTT_APP_PROPERTIES_MAX + 32);
    mt->scratch = malloc(mt->scratch_cap);
    if (!mt->scratch)
        goto fail;
    if (ep->tls_fd >= 0 &&
        !(mt->tls_listener = net_listen_shared(t->base, ep->tls_fd, on_accept_tls, mt)))
        goto fail;
    if (ep->plain_fd >= 0 &&
        !(mt->plain_listener = net_listen_shared(t->base, ep->plain_fd, on_accept_plain, mt)))
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot set up MQTT on network thread %d", t->index);
    return -1;
}

void mqtt_thread_detach(struct net_thread *t)
{
    struct mqtt_thread *mt = t->mqtt;
    if (!mt)
        return;
    if (mt->tls_listener)
        evconnlistener_free(mt->tls_listener);
    if (mt->plain_listener)
        evconnlistener_free(mt->plain_listener);
    while (mt->conns)
        mqtt_conn_close(mt->conns, "the hub is shutting down");
    free(mt->scratch);
    free(mt);
    t->mqtt = NULL;
}

void mqtt_endpoint_kick_device(struct mqtt_endpoint *ep, const char *device_id, const char *why)
{
    struct mqtt_conn *c = device_map_get(&ep->devices, device_id);
    if (!c)
        return;
    mqtt_conn_post_close(c, why);
    mqtt_conn_unref(c);
}
