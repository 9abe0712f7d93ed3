/* Listening sockets. */
#ifndef IOTHUB_HUB_NET_LISTENER_H
#define IOTHUB_HUB_NET_LISTENER_H

#include <stddef.h>

/* Opens a non-blocking TCP listening socket on address:port with TCP_NODELAY (inherited by
 * accepted sockets). "::" listens on every IPv4 and IPv6 address (falls back to 0.0.0.0
 * where IPv6 is off). On failure returns -1 and writes a reason naming `flag` (the
 * command-line flag that chose the port) to err. */
int listener_open(const char *address, int port, const char *flag, char *err, size_t errlen);

#endif
