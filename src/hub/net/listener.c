#include "hub/net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

static int try_listen(const struct addrinfo *ai, int *error_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *error_out = errno;
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        *error_out = errno;
        close(fd);
        return -1;
    }
    return fd;
}

int listener_open(const char *address, int port, const char *flag, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(address, service, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot listen on %s port %d (%s): %s", address, port, flag,
                 gai_strerror(gai));
        return -1;
    }
    int fd = -1, error = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = try_listen(ai, &error);
    freeaddrinfo(res);
    /* "::" on a machine without IPv6: the IPv4 wildcard serves the same purpose. */
    if (fd < 0 && strcmp(address, "::") == 0 && error == EAFNOSUPPORT)
        return listener_open("0.0.0.0", port, flag, err, errlen);
    if (fd < 0) {
        const char *hint = error == EADDRINUSE ? "; stop what uses it or choose another port"
                           : error == EACCES   ? "; ports below 1024 need root or "
                                                 "CAP_NET_BIND_SERVICE, or choose another port"
                                               : "";
        snprintf(err, errlen, "cannot listen on [%s]:%d (%s %d): %s%s", address, port, flag, port,
                 strerror(error), hint);
        return -1;
    }
    return fd;
}
