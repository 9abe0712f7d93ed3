/* Run set-up: the target address, the TLS context, the payload, the file limit. */
#include "setup.h"

#include <netdb.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "mqtt/mqtt.h"

int setup_target(struct bench *b)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    char port[16];
    snprintf(port, sizeof(port), "%d", b->o->port);
    int rc = getaddrinfo(b->o->host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "iothub-bench: %s: %s\n", b->o->host, gai_strerror(rc));
        return -1;
    }
    memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
    b->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int setup_tls(struct bench *b)
{
    const struct bench_opts *o = b->o;
    if (!o->tls)
        return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return -1;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Partial writes from a buffer that may move; read whole socket buffers at once. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (o->idle) /* thousands of idle connections: no buffers while idle */
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (o->cafile) {
        if (SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1) {
            fprintf(stderr, "iothub-bench: cannot load %s: %s\n", o->cafile,
                    ERR_reason_error_string(ERR_get_error()));
            SSL_CTX_free(ctx);
            return -1;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    b->ssl_ctx = ctx;
    return 0;
}

int setup_payload(struct bench *b)
{
    const struct bench_opts *o = b->o;
    b->payload = malloc((size_t)o->payload_size + 1);
    if (!b->payload)
        return -1;
    static const char pattern[] = "{\"temperature\":21.5,\"humidity\":48,\"seq\":0}";
    for (int i = 0; i < o->payload_size; i++)
        b->payload[i] = (uint8_t)pattern[i % (int)(sizeof(pattern) - 1)];
    /* Output buffer: a window's worth of PUBLISH packets (capped), at least one packet plus
     * a CONNECT. */
    size_t id_max = 0;
    for (size_t i = 0; i < b->devs->n; i++) {
        size_t l = strlen(b->devs->v[i].id);
        id_max = l > id_max ? l : id_max;
    }
    size_t pkt = 5 + 2 + id_max + 32 + 2 + (size_t)o->payload_size;
    size_t batch = o->qos && o->inflight < 64 ? (size_t)o->inflight : 64;
    size_t cap = batch * pkt;
    if (cap > 256 * 1024)
        cap = 256 * 1024;
    if (cap < pkt + 2048)
        cap = pkt + 2048;
    b->out_cap = (uint32_t)(o->idle ? 2048 : cap);
    return 0;
}

void setup_nofile(int connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)connections + 64;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        fprintf(stderr,
                "iothub-bench: warning: the file limit (%llu) is below %d connections; "
                "raise ulimit -n\n",
                (unsigned long long)rl.rlim_cur, connections);
}
