/* The HTTPS endpoint (service REST API; device HTTPS later) on evhttp over OpenSSL. */
#ifndef IOTHUB_HUB_REST_SERVER_H
#define IOTHUB_HUB_REST_SERVER_H

#include <stddef.h>

struct net_thread;

/* Creates t->http on t->base, accepting TLS connections on the hub's shared HTTPS socket. */
int rest_server_attach(struct net_thread *t, char *err, size_t errlen);

#endif
