/* Shared access signature tokens (spec section 1.2 to 1.4).
 *
 *   SharedAccessSignature sr={sr}&sig={sig}&se={se}[&skn={skn}]
 *
 * Verification signs the `sr` value exactly as it appears in the token (never rebuilt),
 * which is the only rule that validates every SDK. */
#ifndef IOTHUB_COMMON_SAS_H
#define IOTHUB_COMMON_SAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAS_TOKEN_MAX 4096
#define SAS_FIELD_MAX 1024
#define SAS_HOST_MAX  256
#define SAS_PATH_MAX  1024

enum sas_error {
    SAS_OK = 0,
    SAS_ERR_SYNTAX = -1,   /* missing prefix, field without '=', too long */
    SAS_ERR_MISSING = -2,  /* sr, sig or se absent or empty */
    SAS_ERR_EXPIRY = -3,   /* se is not a decimal integer */
    SAS_ERR_ENCODING = -4, /* bad percent-encoding in sr, sig or skn */
};

/* A parsed token. The *_raw fields hold the values as received (still percent-encoded);
 * sr, sig and skn are their decoded forms. skn is "" when absent or empty. */
struct sas_token {
    char sr_raw[SAS_FIELD_MAX];
    char se_raw[32];
    char sr[SAS_FIELD_MAX];
    char sig[SAS_FIELD_MAX];
    char skn[SAS_FIELD_MAX];
    int64_t expiry; /* seconds since the epoch */
    /* sr split into host and path: scheme (sb://, amqps://, https://) stripped, host is the
     * first segment (with any :port removed), path the rest without a leading '/'. */
    char host[SAS_HOST_MAX];
    char path[SAS_PATH_MAX];
};

/* Returns a static human description of an error code. */
const char *sas_strerror(int err);

/* Parses a whole token (with the "SharedAccessSignature " prefix). Unknown fields are
 * ignored. Returns SAS_OK or a negative sas_error. */
int sas_parse(const char *token, size_t len, struct sas_token *out);

/* base64(HMAC-SHA256(key, sr_raw "\n" se_raw)) into out. Returns its length or -1. */
int sas_signature(const uint8_t *key, size_t key_len, const char *sr_raw, const char *se_raw,
                  char *out, size_t cap);

/* True when the token's signature matches key (constant-time compare). Tries the
 * base64-decoded key bytes; when also_key_text is set, also the UTF-8 bytes of the key
 * text (the Event Hubs convention). key_b64 is the key as stored (base64 text). */
bool sas_verify(const struct sas_token *tok, const char *key_b64, bool also_key_text);

/* Builds a token for resource (not yet encoded; it is encodeURIComponent-ed into sr, as
 * the Node SDK does), signed with the base64 key, expiring at `expiry`. policy may be NULL
 * (device tokens). Returns the token length, or -1 (bad key, cap too small). */
int sas_build(const char *resource, const char *key_b64, const char *policy, int64_t expiry,
              char *out, size_t cap);

/* True when `prefix` covers `path` segment-wise ("a/b" covers "a/b" and "a/b/c", not
 * "a/bc"). An empty prefix covers everything. */
bool sas_path_covers(const char *prefix, const char *path);

#endif
