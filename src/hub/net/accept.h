/* What every protocol endpoint does with sockets the same way: accept on a thread's own
 * descriptor of a shared listening socket, name the peer for logs, and say why a
 * connection ended (from a bufferevent's event, or from what an I/O call returned). */
#ifndef IOTHUB_HUB_NET_ACCEPT_H
#define IOTHUB_HUB_NET_ACCEPT_H

#include <event2/listener.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct bufferevent;
struct event_base;

/* A listener on base for a dup() of shared_fd (each network thread accepts on its own
 * descriptor of the one socket). NULL on failure. Freeing it closes only the dup. */
struct evconnlistener *net_listen_shared(struct event_base *base, int shared_fd,
                                         evconnlistener_cb cb, void *arg);

/* "127.0.0.1:51234" or "::1:51234". */
void net_format_peer(const struct sockaddr *sa, char *out, size_t cap);

/* A peer's address in 20 bytes (a formatted one takes up to 54), for connections that keep
 * it for their whole life. */
struct net_peer {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
    uint16_t port;
    uint8_t family; /* AF_INET, AF_INET6, or 0 when unknown */
};

void net_peer_from_sockaddr(struct net_peer *p, const struct sockaddr *sa);
/* The socket's remote address (getpeername); family 0 when it cannot be had. */
void net_peer_from_fd(struct net_peer *p, int fd);
/* Like net_format_peer; "?:0" when unknown. */
void net_peer_format(const struct net_peer *p, char *out, size_t cap);

/* Why a connection ended, from what its I/O saw: ssl_err (an OpenSSL error code) when not
 * 0 gives "TLS error: ...", else sock_errno when not 0 "socket error: ...", else
 * closed_by_peer. */
void net_io_close_reason(unsigned long ssl_err, int sock_errno, const char *closed_by_peer,
                         char *out, size_t cap);

/* Why a connection's bufferevent reported `what` (EOF or error): the TLS error when there
 * is one, else the socket error, else closed_by_peer. */
void net_close_reason(struct bufferevent *bev, short what, bool tls, const char *closed_by_peer,
                      char *out, size_t cap);

#endif
