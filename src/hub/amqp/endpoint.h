/* The AMQP 1.0 endpoint on --amqp-port (5671, TLS) and optionally --amqp-plain-port: the
 * Event Hubs-compatible read side (spec 5.4) with SASL, CBS and $management. Connections
 * are accepted on every network thread and live on it; Proton's engine is driven by the
 * thread's libevent loop through pn_connection_driver (no proactor). See docs/amqp.md. */
#ifndef IOTHUB_HUB_AMQP_ENDPOINT_H
#define IOTHUB_HUB_AMQP_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "hub/amqp/owners.h"

struct hub;
struct net_thread;

struct amqp_endpoint {
    struct hub *hub;
    int tls_fd; /* listening sockets shared by the threads; -1 when off */
    int plain_fd;
    int64_t created_ms; /* the event hub's created_at */
    struct amqp_owners owners;
};

/* Opens the listening sockets. On failure writes a reason to err; free with
 * amqp_endpoint_free either way. */
int amqp_endpoint_init(struct amqp_endpoint *ep, struct hub *hub, char *err, size_t errlen);
void amqp_endpoint_free(struct amqp_endpoint *ep);

/* Creates t's listeners (before the threads start); at shutdown (loops stopped) closes
 * every connection of the thread. */
int amqp_thread_attach(struct net_thread *t, char *err, size_t errlen);
void amqp_thread_detach(struct net_thread *t);

/* With the network threads stopped and before the event log closes: closes every event
 * log reader of every receiver link (the log must have no readers when it closes). */
void amqp_endpoint_close_readers(struct amqp_endpoint *ep);

/* Prints the Event Hubs-compatible connection string of policy_name to stdout. */
int amqp_print_eventhub_connection_string(const struct hub *hub, const char *policy_name);

#endif
