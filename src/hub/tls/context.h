/* The server-side TLS context shared by every endpoint. */
#ifndef IOTHUB_HUB_TLS_CONTEXT_H
#define IOTHUB_HUB_TLS_CONTEXT_H

#include <openssl/ssl.h>
#include <stddef.h>

/* TLS 1.2 and 1.3 with the given chain and key. Returns NULL with a reason in err. */
SSL_CTX *tls_server_context(const char *cert_chain, const char *key, char *err, size_t errlen);

#endif
