/* Routes a REST request to its handler after authorising it. */
#ifndef IOTHUB_HUB_REST_ROUTER_H
#define IOTHUB_HUB_REST_ROUTER_H

#include <event2/http.h>

/* evhttp's generic callback; arg is the struct net_thread that owns the connection. */
void rest_dispatch(struct evhttp_request *req, void *arg);

#endif
