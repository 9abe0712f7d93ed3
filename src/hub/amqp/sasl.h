/* The SASL layer of the AMQP endpoint, done by us before Proton sees the stream.
 *
 * Why not Proton's own SASL: Debian's Proton is built without Cyrus SASL, and its built-in
 * server side offers only ANONYMOUS and EXTERNAL, so it can neither offer MSSBCBS (the C
 * SDK) nor check PLAIN credentials (SAS tokens, raw policy keys). We also must accept
 * clients that skip SASL altogether (the Node IoT SDKs, spec 5.1). The exchange is three
 * small frames (sasl-mechanisms, sasl-init, sasl-outcome), so we answer it here and hand
 * Proton a stream that starts at the plain AMQP header; Proton's transport is created
 * without a SASL layer.
 *
 * Pure apart from Proton's codec (pn_data_t decodes the sasl-init list). */
#ifndef IOTHUB_HUB_AMQP_SASL_H
#define IOTHUB_HUB_AMQP_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AMQP_SASL_FRAME_MAX 4096 /* a sasl-init with a SAS token fits easily */
#define AMQP_SASL_OUT_MAX   128  /* what one feed call may ask to send */

enum amqp_sasl_result {
    AMQP_SASL_MORE = 0,    /* needs more input */
    AMQP_SASL_DONE = 1,    /* the rest of the input belongs to the AMQP layer */
    AMQP_SASL_FAILED = -1, /* send what is queued, then close; why says what */
};

struct amqp_sasl_init {
    char mechanism[32];
    const uint8_t *response; /* initial-response, may be NULL */
    size_t response_len;
    char hostname[256];
};

/* Decides a sasl-init: returns true to succeed; otherwise writes a reason (no secrets). */
typedef bool (*amqp_sasl_check_fn)(void *ctx, const struct amqp_sasl_init *init, char *why,
                                   size_t whycap);

struct amqp_sasl {
    int state;
    bool used;          /* the client spoke SASL */
    char mechanism[32]; /* the one it chose */
    char why[256];      /* after AMQP_SASL_FAILED */
};

void amqp_sasl_init(struct amqp_sasl *s);
/* True once the SASL layer is over (or was skipped): the rest is AMQP. */
bool amqp_sasl_done(const struct amqp_sasl *s);

/* Feeds len input bytes. Sets *consumed (bytes taken from in) and appends bytes to send
 * to out (at least AMQP_SASL_OUT_MAX capacity), setting *outlen. */
enum amqp_sasl_result amqp_sasl_feed(struct amqp_sasl *s, const uint8_t *in, size_t len,
                                     size_t *consumed, uint8_t *out, size_t *outlen,
                                     amqp_sasl_check_fn check, void *ctx);

/* Splits a PLAIN initial response ([authzid] NUL authcid NUL passwd). Returns 0 or -1. */
int amqp_sasl_plain_split(const uint8_t *resp, size_t len, char *user, size_t user_cap, char *pass,
                          size_t pass_cap);

#endif
