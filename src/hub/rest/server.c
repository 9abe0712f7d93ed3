#include "hub/rest/server.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdio.h>

#include "hub/hub.h"
#include "hub/net/accept.h"
#include "hub/net/threads.h"
#include "hub/rest/router.h"

/* Bodies above this are refused by evhttp itself (connection closed); each route checks its
 * own, smaller limit and answers in the hosted service's error format. */
#define REST_MAX_BODY       (4 * 1024 * 1024)
#define REST_MAX_HEADERS    (64 * 1024)
#define REST_IDLE_TIMEOUT_S 240

static struct bufferevent *tls_bufferevent(struct event_base *base, void *arg)
{
    struct hub *hub = arg;
    SSL *ssl = SSL_new(hub->ssl_ctx);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

int rest_server_attach(struct net_thread *t, char *err, size_t errlen)
{
    struct hub *hub = t->hub;
    t->http = evhttp_new(t->base);
    if (!t->http) {
        snprintf(err, errlen, "cannot create the HTTPS server of thread %d", t->index);
        return -1;
    }
    evhttp_set_allowed_methods(t->http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD);
    evhttp_set_max_body_size(t->http, REST_MAX_BODY);
    evhttp_set_max_headers_size(t->http, REST_MAX_HEADERS);
    /* Runs only while evhttp reads or writes: a request waiting for a direct method's
     * answer (up to 600 s) has reading disabled and is not cut short by it. */
    evhttp_set_timeout(t->http, REST_IDLE_TIMEOUT_S);
    evhttp_set_bevcb(t->http, tls_bufferevent, hub);
    evhttp_set_gencb(t->http, rest_dispatch, t);

    /* Every thread accepts on its own descriptor of the one shared listening socket. */
    struct evconnlistener *lev = net_listen_shared(t->base, hub->https_fd, NULL, NULL);
    if (!lev) {
        snprintf(err, errlen, "cannot accept HTTPS connections on thread %d", t->index);
        return -1;
    }
    if (!evhttp_bind_listener(t->http, lev)) {
        evconnlistener_free(lev);
        snprintf(err, errlen, "cannot bind the HTTPS listener on thread %d", t->index);
        return -1;
    }
    return 0;
}
