/* A small blocking AMQP 1.0 client for the CLI's service commands on the IoT hub endpoint
 * (spec 5.1-5.3): TLS to {host}:5671, no SASL layer, one session, CBS put-token of a policy
 * token for the audience {host}, as Node azure-iothub does (fixtures/wire/
 * amqps-service-client.txt). Works against iothubd and the hosted service alike.
 *
 * Every call runs Qpid Proton's proactor on the calling thread until its step is done (the
 * hub answered, the link is attached, the disposition came) or the step's time runs out.
 * Failures print one `error: ...` line to stderr and return a CLI exit code (cli.h):
 * unreachable, TLS and time-outs 6, a refused token 3, other hub refusals 1.
 *
 * Ownership: the client owns the proactor, the TLS domain, the connection and its links
 * (links returned here are borrowed: valid until amqp_client_close). Received messages are
 * copied out before the call returns. The key is copied (tokens are renewed every 45 minutes)
 * and wiped at close; tokens are wiped after use; neither is ever printed. */
#ifndef IOTHUB_CLI_AMQP_CLIENT_H
#define IOTHUB_CLI_AMQP_CLIENT_H

#include <proton/condition.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AMQP_CLIENT_PORT            5671
#define AMQP_CLIENT_STEP_TIMEOUT_MS 30000 /* connect + authenticate, attach, disposition */

/* Returned by amqp_client_receive when nothing arrived in time (not an exit code). */
#define AMQP_CLIENT_TIMED_OUT (-1)

struct amqp_client;

struct amqp_client_options {
    const char *host;   /* host to dial, to verify in TLS and to sign for; no :port */
    long port;          /* AMQPS port, AMQP_CLIENT_PORT unless testing */
    const char *cafile; /* PEM CAs to trust; NULL: the system CAs */
    const char *policy; /* shared access policy name (skn) */
    const char *key;    /* the policy's key, base64 */
    int64_t step_timeout_ms;
};

/* The hub's answer to one transfer. */
struct amqp_outcome {
    uint64_t state;        /* PN_ACCEPTED, PN_REJECTED, PN_RELEASED, PN_MODIFIED */
    char condition[128];   /* rejected: the error condition ("amqp:not-found"), else "" */
    char description[512]; /* its description, control characters replaced; may be "" */
};

/* Connects, opens the connection and the session, attaches the CBS links and puts the
 * policy token. Returns CLI_EXIT_OK and *out, or an exit code (*out NULL). */
int amqp_client_open(const struct amqp_client_options *o, struct amqp_client **out);

/* Attaches a sender to (target) or a receiver from (source) address and waits until the hub
 * has attached it too. A receiver gets `credit` (at least 1). Returns CLI_EXIT_OK, or an exit
 * code: a link the hub refused with amqp:unauthorized-access is 3, any other refusal 1. */
int amqp_client_attach_sender(struct amqp_client *c, const char *address, pn_link_t **out);
int amqp_client_attach_receiver(struct amqp_client *c, const char *address, int credit,
                                pn_link_t **out);

/* Sends msg as one unsettled transfer and waits for the hub's outcome. Returns CLI_EXIT_OK
 * with *out filled (whatever the outcome), or an exit code when no outcome came (the link or
 * connection closed: the hub's condition is in *out when it gave one; time-out 6). */
int amqp_client_send(struct amqp_client *c, pn_link_t *sender, pn_message_t *msg,
                     struct amqp_outcome *out);

/* A received, not yet settled message. */
struct amqp_received {
    uint64_t id;           /* for amqp_client_settle */
    pn_message_t *message; /* decoded; NULL when the bytes were not a valid AMQP message */
};

/* Waits at most wait_ms for the next whole message on receiver, copies it out and grants one
 * more credit. Returns CLI_EXIT_OK with *out (the caller settles it, then frees it with
 * amqp_received_free), AMQP_CLIENT_TIMED_OUT, or an exit code. */
int amqp_client_receive(struct amqp_client *c, pn_link_t *receiver, int64_t wait_ms,
                        struct amqp_received *out);

/* Settles a received message with state (PN_ACCEPTED, PN_REJECTED, PN_RELEASED); the
 * disposition goes out with the next I/O (amqp_client_close flushes it). */
void amqp_client_settle(struct amqp_client *c, const struct amqp_received *r, uint64_t state);

/* Frees what amqp_client_receive filled in. */
void amqp_received_free(struct amqp_received *r);

/* Releases any message received but not settled, closes links, session and connection, waits
 * briefly for the hub's close, and frees everything. NULL is allowed. */
void amqp_client_close(struct amqp_client *c);

/* Helpers shared with the CLI's other AMQP client (cmd_monitor.c). */

/* A TLS client domain that trusts cafile (NULL: the system CAs) and checks the peer's name.
 * Returns CLI_EXIT_OK and *out (the caller frees it with pn_ssl_domain_free), or an exit code
 * after printing why (2 for a CA file that cannot be loaded). */
int amqp_tls_domain(const char *cafile, pn_ssl_domain_t **out);

/* "name: description" of a condition ("no condition" when none), control characters replaced
 * by spaces, for messages. */
void amqp_condition_describe(pn_condition_t *cond, char *out, size_t cap);
/* The current node of d as an integer (any integer type, or a timestamp). */
bool amqp_data_int(pn_data_t *d, int64_t *out);
/* The current node of d (string, symbol or binary) copied into out, NUL-terminated and cut
 * to fit cap (> 0). False for other types. */
bool amqp_data_text(pn_data_t *d, char *out, size_t cap);

/* Maps an AMQP error condition to a CLI exit code: unauthorized 3, not found 4, resource
 * limit 5, size and argument errors 7, anything else 1. */
int amqp_client_exit_for_condition(const char *condition);

#endif
