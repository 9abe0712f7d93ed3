#include "hub/amqp/endpoint.h"

#include <arpa/inet.h>
#include <event2/listener.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/isotime.h"
#include "hub/amqp/internal.h"
#include "hub/hub.h"
#include "hub/net/accept.h"
#include "hub/net/listener.h"
#include "hub/net/threads.h"
#include "store/eventlog.h"
#include "store/registry.h"

#define CREATED_SETTING "eventhub_created_ms"

/* The event hub's created_at: remembered from the first start. */
static int64_t created_ms(struct registry *reg)
{
    char v[32] = "";
    if (registry_get_setting(reg, CREATED_SETTING, v, sizeof(v)) == REG_OK && v[0])
        return strtoll(v, NULL, 10);
    int64_t now = time_now_ms();
    snprintf(v, sizeof(v), "%" PRId64, now);
    registry_set_setting(reg, CREATED_SETTING, v);
    return now;
}

int amqp_endpoint_init(struct amqp_endpoint *ep, struct hub *hub, char *err, size_t errlen)
{
    memset(ep, 0, sizeof(*ep));
    ep->hub = hub;
    ep->tls_fd = ep->plain_fd = -1;
    if (amqp_owners_init(&ep->owners) != 0) {
        snprintf(err, errlen, "cannot create the AMQP receiver table");
        return -1;
    }
    ep->created_ms = created_ms(hub->registry);
    const struct hub_config *cfg = hub->cfg;
    if (cfg->amqp_port > 0) {
        ep->tls_fd = listener_open(cfg->bind_address, cfg->amqp_port, "--amqp-port", err, errlen);
        if (ep->tls_fd < 0)
            return -1;
    }
    if (cfg->amqp_plain_port > 0) {
        ep->plain_fd = listener_open(cfg->bind_address, cfg->amqp_plain_port, "--amqp-plain-port",
                                     err, errlen);
        if (ep->plain_fd < 0)
            return -1;
    }
    return 0;
}

void amqp_endpoint_free(struct amqp_endpoint *ep)
{
    if (ep->tls_fd >= 0)
        close(ep->tls_fd);
    if (ep->plain_fd >= 0)
        close(ep->plain_fd);
    ep->tls_fd = ep->plain_fd = -1;
    if (ep->hub)
        amqp_owners_free(&ep->owners);
    ep->hub = NULL;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    (void)len;
    struct amqp_thread *at = arg;
    char peer[64];
    net_format_peer(sa, peer, sizeof(peer));
    amqp_conn_accept(at, fd, l == at->tls_listener, peer);
}

int amqp_thread_attach(struct net_thread *t, char *err, size_t errlen)
{
    struct amqp_endpoint *ep = t->hub->amqp;
    struct amqp_thread *at = calloc(1, sizeof(*at));
    if (!at)
        goto fail;
    t->amqp = at;
    at->thread = t;
    at->ep = ep;
    if (ep->tls_fd >= 0 &&
        !(at->tls_listener = net_listen_shared(t->base, ep->tls_fd, on_accept, at)))
        goto fail;
    if (ep->plain_fd >= 0 &&
        !(at->plain_listener = net_listen_shared(t->base, ep->plain_fd, on_accept, at)))
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot set up AMQP on network thread %d", t->index);
    return -1;
}

void amqp_thread_detach(struct net_thread *t)
{
    struct amqp_thread *at = t->amqp;
    if (!at)
        return;
    if (at->tls_listener)
        evconnlistener_free(at->tls_listener);
    if (at->plain_listener)
        evconnlistener_free(at->plain_listener);
    while (at->conns)
        amqp_conn_close(at->conns, "the hub is shutting down");
    free(at);
    t->amqp = NULL;
}

void amqp_endpoint_close_readers(struct amqp_endpoint *ep)
{
    struct hub *hub = ep->hub;
    for (int i = 0; hub->threads && i < hub->thread_count; i++) {
        struct amqp_thread *at = hub->threads[i].amqp;
        for (struct amqp_conn *c = at ? at->conns : NULL; c; c = c->next)
            for (struct amqp_receiver *r = c->receivers; r; r = r->next)
                if (r->reader) {
                    eventlog_reader_close(r->reader);
                    r->reader = NULL;
                }
    }
}

int amqp_print_eventhub_connection_string(const struct hub *hub, const char *policy_name)
{
    struct policy pol;
    if (registry_get_policy(hub->registry, policy_name, &pol) != REG_OK) {
        fprintf(stderr, "iothubd: no shared access policy named '%s' in this hub\n", policy_name);
        return -1;
    }
    printf("Endpoint=sb://%s/;SharedAccessKeyName=%s;SharedAccessKey=%s;EntityPath=%s\n",
           hub->hostname, pol.name, pol.primary_key, hub->hub_name);
    return 0;
}
