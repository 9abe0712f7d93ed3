#include "sas.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64.h"
#include "strbuf.h"
#include "urlcode.h"

#define SAS_PREFIX     "SharedAccessSignature "
#define SAS_PREFIX_LEN (sizeof(SAS_PREFIX) - 1)
#define SHA256_LEN     32
/* base64 of a SHA-256 digest: 44 characters + NUL. */
#define SAS_SIG_B64_SIZE BASE64_ENCODED_SIZE(SHA256_LEN)
/* Largest decoded key we handle; stored keys are at most DEVICE_KEY_MAX (128) base64 chars. */
#define SAS_KEY_BYTES_MAX 256

const char *sas_strerror(int err)
{
    switch (err) {
    case SAS_OK:
        return "ok";
    case SAS_ERR_SYNTAX:
        return "malformed SharedAccessSignature";
    case SAS_ERR_MISSING:
        return "SharedAccessSignature lacks sr, sig or se";
    case SAS_ERR_EXPIRY:
        return "SharedAccessSignature se is not a decimal integer";
    case SAS_ERR_ENCODING:
        return "SharedAccessSignature has bad percent-encoding";
    default:
        return "unknown SharedAccessSignature error";
    }
}

/* One "name=value" field of the token, not NUL-terminated. */
struct sas_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

static bool field_is(const struct sas_field *f, const char *name)
{
    return f->name_len == strlen(name) && memcmp(f->name, name, f->name_len) == 0;
}

/* Decimal seconds, no sign, no spaces, must fit int64_t. */
static int parse_expiry(const char *s, int64_t *out)
{
    if (*s == '\0')
        return SAS_ERR_EXPIRY;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return SAS_ERR_EXPIRY;
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10)
            return SAS_ERR_EXPIRY;
        v = v * 10 + d;
    }
    *out = v;
    return SAS_OK;
}

static const char *strip_scheme(const char *s)
{
    static const char *const schemes[] = {"sb://", "amqps://", "https://"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i]);
        if (strncasecmp(s, schemes[i], n) == 0)
            return s + n;
    }
    return s;
}

/* Splits the decoded resource into host (without :port) and path (no leading or trailing
 * '/'). "[::1]:5671" keeps the brackets of an IPv6 literal. */
static int split_resource(const char *sr, struct sas_token *out)
{
    const char *s = strip_scheme(sr);
    size_t host_len = strcspn(s, "/");
    const char *rest = s + host_len;
    size_t name_len = host_len;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', host_len);
        if (close)
            name_len = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', host_len);
        if (colon)
            name_len = (size_t)(colon - s);
    }
    if (!str_copy_n(out->host, sizeof(out->host), s, name_len))
        return SAS_ERR_SYNTAX;
    if (*rest == '/')
        rest++;
    size_t path_len = strlen(rest);
    while (path_len > 0 && rest[path_len - 1] == '/')
        path_len--;
    if (!str_copy_n(out->path, sizeof(out->path), rest, path_len))
        return SAS_ERR_SYNTAX;
    return SAS_OK;
}

/* Stores one field; a repeated known field is a syntax error (which one would count?). */
static int store_field(const struct sas_field *f, struct sas_token *out, char *sig_raw,
                       char *skn_raw, unsigned *seen)
{
    const struct {
        const char *name;
        char *dst;
        size_t cap;
    } slots[] = {
        {"sr", out->sr_raw, sizeof(out->sr_raw)},
        {"sig", sig_raw, SAS_FIELD_MAX},
        {"se", out->se_raw, sizeof(out->se_raw)},
        {"skn", skn_raw, SAS_FIELD_MAX},
    };
    for (unsigned i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        if (!field_is(f, slots[i].name))
            continue;
        if (*seen & (1u << i))
            return SAS_ERR_SYNTAX;
        *seen |= 1u << i;
        bool fits = str_copy_n(slots[i].dst, slots[i].cap, f->value, f->value_len);
        return fits ? SAS_OK : SAS_ERR_SYNTAX;
    }
    return SAS_OK; /* unknown fields are ignored (spec 1.2) */
}

/* Splits the text after the prefix on '&' and each field at its first '='. */
static int split_fields(const char *p, size_t len, struct sas_token *out, char *sig_raw,
                        char *skn_raw)
{
    unsigned seen = 0;
    const char *end = p + len;
    for (;;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *field_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(field_end - p));
        if (!eq)
            return SAS_ERR_SYNTAX;
        struct sas_field f = {p, (size_t)(eq - p), eq + 1, (size_t)(field_end - eq - 1)};
        int rc = store_field(&f, out, sig_raw, skn_raw, &seen);
        if (rc != SAS_OK)
            return rc;
        if (!amp)
            return SAS_OK;
        p = amp + 1;
    }
}

static int decode_field(const char *raw, char *out, size_t cap)
{
    return url_decode(raw, strlen(raw), out, cap) < 0 ? SAS_ERR_ENCODING : SAS_OK;
}

int sas_parse(const char *token, size_t len, struct sas_token *out)
{
    memset(out, 0, sizeof(*out));
    if (len > SAS_TOKEN_MAX || len < SAS_PREFIX_LEN || memchr(token, '\0', len))
        return SAS_ERR_SYNTAX;
    if (memcmp(token, SAS_PREFIX, SAS_PREFIX_LEN) != 0)
        return SAS_ERR_SYNTAX;
    char sig_raw[SAS_FIELD_MAX] = "", skn_raw[SAS_FIELD_MAX] = "";
    int rc = split_fields(token + SAS_PREFIX_LEN, len - SAS_PREFIX_LEN, out, sig_raw, skn_raw);
    if (rc != SAS_OK)
        return rc;
    if (out->sr_raw[0] == '\0' || sig_raw[0] == '\0' || out->se_raw[0] == '\0')
        return SAS_ERR_MISSING;
    if ((rc = parse_expiry(out->se_raw, &out->expiry)) != SAS_OK)
        return rc;
    if ((rc = decode_field(out->sr_raw, out->sr, sizeof(out->sr))) != SAS_OK ||
        (rc = decode_field(sig_raw, out->sig, sizeof(out->sig))) != SAS_OK ||
        (rc = decode_field(skn_raw, out->skn, sizeof(out->skn))) != SAS_OK)
        return rc;
    return split_resource(out->sr, out);
}

int sas_signature(const uint8_t *key, size_t key_len, const char *sr_raw, const char *se_raw,
                  char *out, size_t cap)
{
    /* The string to sign is small and bounded: the longest sr a token can carry, '\n', se. */
    char msg[SAS_FIELD_MAX + 64];
    int n = snprintf(msg, sizeof(msg), "%s\n%s", sr_raw, se_raw);
    if (n < 0 || (size_t)n >= sizeof(msg) || key_len > INT32_MAX)
        return -1;
    static const uint8_t no_key[1];
    uint8_t mac[SHA256_LEN];
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha256(), key_len ? key : no_key, (int)key_len, (const uint8_t *)msg, (size_t)n,
              mac, &mac_len) ||
        mac_len != SHA256_LEN)
        return -1;
    int len = base64_encode(mac, sizeof(mac), out, cap);
    OPENSSL_cleanse(mac, sizeof(mac));
    return len;
}

static bool signature_matches(const struct sas_token *tok, const uint8_t *key, size_t key_len)
{
    char expected[SAS_SIG_B64_SIZE];
    int n = sas_signature(key, key_len, tok->sr_raw, tok->se_raw, expected, sizeof(expected));
    if (n < 0 || strlen(tok->sig) != (size_t)n)
        return false;
    return CRYPTO_memcmp(expected, tok->sig, (size_t)n) == 0;
}

bool sas_verify(const struct sas_token *tok, const char *key_b64, bool also_key_text)
{
    /* An empty key would make the HMAC computable by anyone: an identity whose secondary
     * key is "" must never match. */
    size_t text_len = strnlen(key_b64, SAS_KEY_BYTES_MAX + 1);
    if (text_len == 0 || text_len > SAS_KEY_BYTES_MAX)
        return false;
    uint8_t key[SAS_KEY_BYTES_MAX];
    int key_len = base64_decode(key_b64, text_len, key, sizeof(key));
    bool ok = key_len > 0 && signature_matches(tok, key, (size_t)key_len);
    OPENSSL_cleanse(key, sizeof(key));
    /* Event Hubs convention (@azure/event-hubs): the key text itself is the HMAC key. */
    if (!ok && also_key_text)
        ok = signature_matches(tok, (const uint8_t *)key_b64, text_len);
    return ok;
}

int sas_build(const char *resource, const char *key_b64, const char *policy, int64_t expiry,
              char *out, size_t cap)
{
    size_t text_len = strnlen(key_b64, SAS_KEY_BYTES_MAX + 1);
    uint8_t key[SAS_KEY_BYTES_MAX];
    /* An empty resource would give an empty sr, which sas_parse rejects. */
    if (expiry < 0 || resource[0] == '\0' || text_len == 0 || text_len > SAS_KEY_BYTES_MAX) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    int key_len = base64_decode(key_b64, text_len, key, sizeof(key));
    char sr[SAS_FIELD_MAX], se[32], sig[SAS_SIG_B64_SIZE], sig_enc[3 * SAS_SIG_B64_SIZE];
    char skn[SAS_FIELD_MAX] = "";
    snprintf(se, sizeof(se), "%" PRId64, expiry);
    bool ok = key_len > 0 &&
              url_encode_component(resource, strlen(resource), sr, sizeof(sr)) >= 0 &&
              sas_signature(key, (size_t)key_len, sr, se, sig, sizeof(sig)) >= 0 &&
              url_encode_component(sig, strlen(sig), sig_enc, sizeof(sig_enc)) >= 0 &&
              (!policy || url_encode_component(policy, strlen(policy), skn, sizeof(skn)) >= 0);
    OPENSSL_cleanse(key, sizeof(key));
    if (cap > 0)
        out[0] = '\0';
    if (!ok)
        return -1;
    /* Field order as the Node SDKs emit it: sr, sig, skn, se. */
    int n;
    if (skn[0])
        n = snprintf(out, cap, SAS_PREFIX "sr=%s&sig=%s&skn=%s&se=%s", sr, sig_enc, skn, se);
    else
        n = snprintf(out, cap, SAS_PREFIX "sr=%s&sig=%s&se=%s", sr, sig_enc, se);
    if (n < 0 || (size_t)n >= cap || n > SAS_TOKEN_MAX) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    return n;
}

bool sas_path_covers(const char *prefix, const char *path)
{
    /* Leading slashes and a trailing slash on the prefix carry no meaning here. */
    while (*prefix == '/')
        prefix++;
    while (*path == '/')
        path++;
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    if (n == 0)
        return true;
    return strncmp(prefix, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
