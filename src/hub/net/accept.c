#include "hub/net/accept.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/strbuf.h"

struct evconnlistener *net_listen_shared(struct event_base *base, int shared_fd,
                                         evconnlistener_cb cb, void *arg)
{
    int fd = dup(shared_fd);
    if (fd < 0)
        return NULL;
    struct evconnlistener *l =
        evconnlistener_new(base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!l)
        close(fd);
    return l;
}

void net_format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, "%s:%d", host, port);
}

void net_peer_from_sockaddr(struct net_peer *p, const struct sockaddr *sa)
{
    memset(p, 0, sizeof(*p));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(p->addr, &in->sin_addr, 4);
        p->port = ntohs(in->sin_port);
        p->family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(p->addr, &in6->sin6_addr, 16);
        p->port = ntohs(in6->sin6_port);
        p->family = AF_INET6;
    }
}

void net_peer_from_fd(struct net_peer *p, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        ss.ss_family = AF_UNSPEC;
    net_peer_from_sockaddr(p, (const struct sockaddr *)&ss);
}

void net_peer_format(const struct net_peer *p, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (p->family == AF_INET || p->family == AF_INET6)
        inet_ntop(p->family, p->addr, host, sizeof(host));
    snprintf(out, cap, "%s:%d", host, p->port);
}

void net_io_close_reason(unsigned long ssl_err, int sock_errno, const char *closed_by_peer,
                         char *out, size_t cap)
{
    if (ssl_err) {
        char buf[200];
        ERR_error_string_n(ssl_err, buf, sizeof(buf));
        snprintf(out, cap, "TLS error: %s", buf);
    } else if (sock_errno) {
        snprintf(out, cap, "socket error: %s", evutil_socket_error_to_string(sock_errno));
    } else {
        str_copy(out, cap, closed_by_peer ? closed_by_peer : "the connection was closed");
    }
}

void net_close_reason(struct bufferevent *bev, short what, bool tls, const char *closed_by_peer,
                      char *out, size_t cap)
{
    if (!(what & BEV_EVENT_ERROR)) {
        str_copy(out, cap, closed_by_peer);
        return;
    }
    unsigned long ssl_err = tls ? bufferevent_get_openssl_error(bev) : 0;
    if (ssl_err)
        net_io_close_reason(ssl_err, 0, closed_by_peer, out, cap);
    else
        snprintf(out, cap, "socket error: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}
