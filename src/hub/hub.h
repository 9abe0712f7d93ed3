/* The hub: shared state of the daemon, created once at start and read by every network
 * thread. Everything here is immutable after hub_start() except what sits behind the
 * registry's own lock. */
#ifndef IOTHUB_HUB_HUB_H
#define IOTHUB_HUB_HUB_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "hub/config.h"
#include "hub/tls/certs.h"
#include "store/registry.h"

#define HUB_NAME_MAX  256
#define HUB_MAX_NAMES (CONFIG_MAX_ALIASES + 1)

struct amqp_endpoint;
struct eventlog;
struct hub_throttle;
struct mqtt_endpoint;
struct net_thread;
struct presence;

struct hub {
    const struct hub_config *cfg;
    struct registry *registry;
    char hostname[HUB_NAME_MAX];      /* HostName of connection strings */
    char hub_name[HUB_NAME_MAX];      /* first DNS label of hostname */
    const char *names[HUB_MAX_NAMES]; /* hostname + aliases: accepted in SAS sr */
    size_t name_count;
    struct tls_paths tls;
    const char *tls_cert_path; /* the chain and key in use (generated or --tls-cert) */
    const char *tls_key_path;
    SSL_CTX *ssl_ctx; /* service endpoints */
    struct eventlog *eventlog;
    struct presence *presence;
    struct mqtt_endpoint *mqtt;    /* NULL when no MQTT port is open */
    struct amqp_endpoint *amqp;    /* NULL when no AMQP port is open */
    struct hub_throttle *throttle; /* --throttle-* rates (hub/throttle.h), never NULL */
    int lock_fd;                   /* flock on {data-dir}/lock: one daemon per data dir */
    int https_fd;                  /* listening socket, shared by every network thread */
    struct net_thread *threads;
    int thread_count;
};

/* True when name (a host from a SAS sr or a Host header, port already stripped) is one of
 * the hub's names, compared case-insensitively. */
bool hub_is_own_host(const struct hub *hub, const char *name);

/* Prints the connection string of policy_name to stdout. Returns 0, or -1 (unknown policy,
 * message on stderr). */
int hub_print_connection_string(const struct hub *hub, const char *policy_name);

#endif
