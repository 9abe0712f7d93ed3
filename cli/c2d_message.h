/* A cloud-to-device message as the service sends it on /messages/devicebound (spec 5.3):
 * built from the command line's parts into a Proton message. Pure apart from Proton's
 * message type (no I/O). */
#ifndef IOTHUB_CLI_C2D_MESSAGE_H
#define IOTHUB_CLI_C2D_MESSAGE_H

#include <proton/message.h>
#include <stddef.h>
#include <stdint.h>

#define C2D_SEND_ADDRESS   "/messages/devicebound"
#define C2D_MAX_PROPS      64
#define C2D_MESSAGE_ID_MAX 129    /* 128 characters, as the hosted service allows */
#define C2D_MAX_TTL_S      172800 /* 2 days, the hosted service's maximum */

struct c2d_prop {
    const char *name;  /* borrowed */
    const char *value; /* borrowed */
};

/* Everything one message carries. Strings are borrowed; NULL = not set. */
struct c2d_message {
    const char *device_id;
    const char *message_id; /* required (the CLI makes a uuid when none is given) */
    const char *correlation_id;
    const char *content_type;
    const char *content_encoding;
    const char *ack;   /* none, positive, negative, full */
    int64_t expiry_ms; /* absolute expiry, ms since 1970; 0 = the hub's default TTL */
    const void *body;
    size_t body_len;
    struct c2d_prop props[C2D_MAX_PROPS];
    size_t nprops;
};

/* Splits "NAME=VALUE" in place (arg is modified: the '=' becomes NUL). The name must not be
 * empty, start with "$" or be iothub-ack (use --ack); the value may be empty. Returns 0, or
 * -1 with the reason in why. */
int c2d_prop_parse(char *arg, struct c2d_prop *out, char *why, size_t cap);

/* True when ack is one of none, positive, negative, full. */
int c2d_ack_valid(const char *ack);

/* "/devices/{encodeURIComponent(id)}/messages/devicebound" into out (as Node azure-iothub).
 * Returns 0, or -1 when it does not fit. */
int c2d_to_address(const char *device_id, char *out, size_t cap);

/* A random version-4 uuid in canonical lower-case text (36 characters + NUL). 0 or -1. */
int c2d_uuid(char out[37]);

/* Fills msg (cleared first) from m: properties message-id, to, correlation-id,
 * content-type, content-encoding, absolute-expiry-time; application properties iothub-ack and
 * every prop (as strings); the body as one data section. Returns 0, or -1 with why. */
int c2d_message_build(const struct c2d_message *m, pn_message_t *msg, char *why, size_t cap);

#endif
