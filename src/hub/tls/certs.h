/* The hub's own certificate authority and server certificate.
 *
 * On first start the hub creates, in {data-dir}/tls/:
 *   ca.pem, ca.key          a self-signed CA (ECDSA P-256) that clients are told to trust
 *   server.pem, server.key  an ECDSA P-256 server certificate for the host name and its
 *                           aliases (SAN DNS names, plus IP 127.0.0.1 and ::1), signed by ca
 * and reuses them afterwards. ECDSA gives about ten times the TLS handshakes per core of
 * RSA-2048, which matters in reconnect storms. When the host names change, the server
 * certificate is re-issued from the same CA, so clients keep trusting it. */
#ifndef IOTHUB_HUB_TLS_CERTS_H
#define IOTHUB_HUB_TLS_CERTS_H

#include <stddef.h>

struct tls_paths {
    char ca_cert[4096];
    char server_cert[4096];
    char server_key[4096];
};

/* Makes sure the CA and a server certificate covering every name exist under tls_dir
 * (created 0700). names[0] is the hub host name. Returns 0, or -1 with a reason in err. */
int tls_certs_ensure(const char *tls_dir, const char *const *names, size_t name_count,
                     struct tls_paths *out, char *err, size_t errlen);

#endif
