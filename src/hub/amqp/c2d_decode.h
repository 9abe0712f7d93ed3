/* A cloud-to-device message as the service sends it on messages/devicebound (spec 5.3),
 * decoded into what the queue stores (store/c2d_store.h). Untrusted input: fuzzed by
 * fuzz/fuzz_c2d_message.c. */
#ifndef IOTHUB_HUB_AMQP_C2D_DECODE_H
#define IOTHUB_HUB_AMQP_C2D_DECODE_H

#include <proton/message.h>
#include <stddef.h>

#include "store/c2d_store.h"

/* The encoded application properties may take this much of the MQTT topic. */
#define C2D_PROPERTIES_MAX (32 * 1024)
/* Content type, content encoding and user id, as text. */
#define C2D_SYSTEM_VALUE_MAX 1024

enum c2d_decode_result {
    C2D_DECODE_OK = 0,
    C2D_DECODE_INVALID = 1,   /* com.microsoft:argument-error */
    C2D_DECODE_TOO_LARGE = 2, /* amqp:link:message-size-exceeded */
    C2D_DECODE_NO_MEMORY = 3, /* amqp:internal-error */
};

/* Decodes the AMQP message in bytes (len) into out, using msg as scratch (cleared and
 * reused). On C2D_DECODE_OK out's members are malloc'ed (free with c2d_message_free);
 * otherwise out holds nothing and why says what is wrong, for the sender. */
enum c2d_decode_result amqp_c2d_decode(pn_message_t *msg, const char *bytes, size_t len,
                                       struct c2d_message *out, char *why, size_t why_cap);

/* Appends key (and "=value" unless value is NULL) to a bag, percent-encoding every byte
 * outside A-Z a-z 0-9 - . _ ~ (spec 2.8), with '&' before it unless *len is 0. Grows *buf
 * (malloc'ed, NUL-terminated). Returns 0, or -1 when out of memory or over max bytes. */
int c2d_bag_append(char **buf, size_t *len, size_t *cap, size_t max, const char *key,
                   size_t key_len, const char *value, size_t value_len);

#endif
