/* The device MQTT endpoint: TLS on --mqtt-port (8883), optionally plain TCP on
 * --mqtt-plain-port for development and benchmarks. Connections are accepted on every
 * network thread and live on it until they close. */
#ifndef IOTHUB_HUB_MQTT_ENDPOINT_H
#define IOTHUB_HUB_MQTT_ENDPOINT_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "hub/mqtt/device_map.h"

struct hub;
struct net_thread;
struct evconnlistener;
struct mqtt_conn;

/* Limits of the hosted service (spec 6.1). */
#define MQTT_MESSAGE_MAX (256 * 1024)
/* A PUBLISH may carry a 64 KiB topic (the property bag) besides the message. */
#define MQTT_PACKET_MAX         (MQTT_MESSAGE_MAX + 65536 + 16)
#define MQTT_CONNECT_TIMEOUT_MS 10000
#define MQTT_KEEPALIVE_CAP_S    1767
#define MQTT_APP_PROPERTIES_MAX 128
/* QoS 1 messages of one connection waiting for the log; reading pauses above it. */
#define MQTT_INFLIGHT_MAX 1024

struct mqtt_endpoint {
    struct hub *hub;
    SSL_CTX *ssl_ctx; /* device TLS: asks for (does not require) a client certificate */
    int tls_fd;       /* listening sockets, shared by the threads; -1 when off */
    int plain_fd;
    struct device_map devices;
};

/* Per network thread. */
struct mqtt_thread {
    struct net_thread *thread;
    struct mqtt_endpoint *ep;
    struct evconnlistener *tls_listener;
    struct evconnlistener *plain_listener;
    struct mqtt_conn *conns; /* every live connection of this thread */
    char *scratch;           /* property-bag decoding */
    size_t scratch_cap;
};

/* Opens the listening sockets and the device TLS context. */
int mqtt_endpoint_init(struct mqtt_endpoint *ep, struct hub *hub, char *err, size_t errlen);
void mqtt_endpoint_free(struct mqtt_endpoint *ep);

/* Creates t's listeners (called before the threads start) and, at shutdown, closes every
 * connection of the thread (called on the thread's loop after it stopped). */
int mqtt_thread_attach(struct net_thread *t, char *err, size_t errlen);
void mqtt_thread_detach(struct net_thread *t);

/* Closes the live connection of a device wherever it is (registry change: disabled,
 * deleted, new credentials). Any thread. */
void mqtt_endpoint_kick_device(struct mqtt_endpoint *ep, const char *device_id, const char *why);

#endif
