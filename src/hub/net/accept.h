/* What every protocol endpoint does with sockets the same way: accept on a thread's own
 * descriptor of a shared listening socket, name the peer for logs, and say why a
 * bufferevent connection ended. */
#ifndef IOTHUB_HUB_NET_ACCEPT_H
#define IOTHUB_HUB_NET_ACCEPT_H

#include <event2/listener.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct bufferevent;
struct event_base;

/* A listener on base for a dup() of shared_fd (each network thread accepts on its own
 * descriptor of the one socket). NULL on failure. Freeing it closes only the dup. */
struct evconnlistener *net_listen_shared(struct event_base *base, int shared_fd,
                                         evconnlistener_cb cb, void *arg);

/* "127.0.0.1:51234" or "::1:51234". */
void net_format_peer(const struct sockaddr *sa, char *out, size_t cap);

/* Why a connection's bufferevent reported `what` (EOF or error): the TLS error when there
 * is one, else the socket error, else closed_by_peer. */
void net_close_reason(struct bufferevent *bev, short what, bool tls, const char *closed_by_peer,
                      char *out, size_t cap);

#endif
