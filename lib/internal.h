/* libiothub internals shared by the files in lib/. Nothing here is exported: the shared
 * library exports only iothub_* (lib/libiothub.map), and internal names use iotlib_. */
#ifndef IOTHUB_LIB_INTERNAL_H
#define IOTHUB_LIB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iothub/iothub.h"

/* Device client options (iothub_device_client.h lists them). */
struct iotlib_options {
    uint64_t message_timeout_ms; /* 0: never */
    int keepalive_s;
    bool logtrace;
    size_t sas_lifetime_s;
    char *trusted_certs; /* PEM, owned; NULL: system store */
    char *x509_cert;     /* PEM, owned */
    char *x509_key;      /* PEM, owned */
    char *model_id;      /* Plug and Play model id, owned; NULL: none */
    iothub_retry_policy_t retry_policy;
    size_t retry_timeout_s; /* 0: forever */
};

#define IOTLIB_DEFAULT_KEEPALIVE_S    240
#define IOTLIB_DEFAULT_SAS_LIFETIME_S 3600
#define IOTLIB_MODEL_ID_MAX           4096 /* the hub's limit for a DTMI */

/* How set_option received its value. */
enum iotlib_optval_kind {
    IOTLIB_OPT_PTR, /* the C SDK's typed pointer */
    IOTLIB_OPT_INT,
    IOTLIB_OPT_STRING,
};

struct iotlib_optval {
    enum iotlib_optval_kind kind;
    const void *ptr;
    int64_t i;
    const char *s;
};

void iotlib_options_init(struct iotlib_options *o);
void iotlib_options_free(struct iotlib_options *o);
/* Applies one option. Returns 0, IOTHUB_EOPTION, IOTHUB_EOPTVALUE, IOTHUB_ECERT or
 * IOTHUB_ENOMEM; o is unchanged on error. */
int iotlib_options_set(struct iotlib_options *o, const char *name, const struct iotlib_optval *v);

/* The delay before reconnect attempt `attempt` (1-based) under policy, with r uniform in
 * [0, 1) supplying the randomness. -1 for IOTHUB_RETRY_NONE. */
int64_t iotlib_retry_delay_ms(iothub_retry_policy_t policy, unsigned attempt, double r);
bool iotlib_retry_policy_valid(int policy);
/* Uniform in [0, 1) from the OpenSSL generator (0.5 when it fails). */
double iotlib_random_unit(void);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t iotlib_now_ms(void);

/* Whole-PEM checks used when an option is set: at least one certificate / a private key. */
bool iotlib_pem_has_cert(const char *pem);
bool iotlib_pem_has_key(const char *pem);

/* "iothub: " + message on stderr, one write. */
void iotlib_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* strdup that returns NULL on failure (and for NULL). */
char *iotlib_strdup(const char *s);

/* Device connection settings parsed from a connection string or parts. */
struct iotlib_device_auth {
    char *host;
    char *device_id;
    char *key;   /* SharedAccessKey (base64) or NULL */
    char *token; /* SharedAccessSignature or NULL */
    bool x509;
};

/* Parses a device connection string. Returns 0, IOTHUB_ECONNSTR, IOTHUB_EKEY,
 * IOTHUB_ENOMEM. On error auth holds nothing. */
int iotlib_device_auth_parse(const char *cs, struct iotlib_device_auth *auth);
int iotlib_device_auth_from_parts(const char *host, const char *device_id, const char *key,
                                  struct iotlib_device_auth *auth);
void iotlib_device_auth_free(struct iotlib_device_auth *auth);
/* True when key is strict base64 of 1 to 128 bytes. */
bool iotlib_key_is_base64(const char *key);

/* System properties only a received cloud-to-device message carries (getters in
 * iothub_message.h). */
enum iotlib_c2d_prop {
    IOTLIB_PROP_USER_ID, /* $.uid */
    IOTLIB_PROP_TO,      /* $.to */
    IOTLIB_PROP_EXPIRY,  /* $.exp, ISO 8601 UTC as the hub sent it */
    IOTLIB_PROP_ACK,     /* iothub-ack */
    IOTLIB_PROP_COUNT,
};

/* Sets (NULL: clears) one of them, with the checks of iothub_message_set_message_id.
 * Returns 0, IOTHUB_EINVAL, IOTHUB_ETOOBIG or IOTHUB_ENOMEM. */
int iotlib_message_set_c2d_prop(iothub_message_t *msg, enum iotlib_c2d_prop which,
                                const char *value);

/* Process-wide init (OpenSSL, curl), idempotent and thread-safe. Returns 0 or
 * IOTHUB_ESYSTEM. */
int iotlib_global_init_once(void);

#endif
