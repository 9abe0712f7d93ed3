/* Device client options, retry policy delays, connection-string handling and small helpers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/base64.h"
#include "common/connstr.h"
#include "common/random.h"
#include "internal.h"

int64_t iotlib_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *iotlib_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void iotlib_trace(const char *fmt, ...)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "iothub: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void iotlib_options_init(struct iotlib_options *o)
{
    memset(o, 0, sizeof(*o));
    o->keepalive_s = IOTLIB_DEFAULT_KEEPALIVE_S;
    o->sas_lifetime_s = IOTLIB_DEFAULT_SAS_LIFETIME_S;
    o->retry_policy = IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER;
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void iotlib_options_free(struct iotlib_options *o)
{
    free(o->trusted_certs);
    free(o->x509_cert);
    free_secret(o->x509_key);
    free(o->model_id);
    o->trusted_certs = o->x509_cert = o->x509_key = o->model_id = NULL;
}

bool iotlib_pem_has_cert(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio)
        return false;
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    bool ok = x != NULL;
    X509_free(x);
    BIO_free(bio);
    return ok;
}

bool iotlib_pem_has_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio)
        return false;
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    bool ok = k != NULL;
    EVP_PKEY_free(k);
    BIO_free(bio);
    return ok;
}

/* Integer value of an option given in any of the three forms; ptr_size is the size of the
 * type the C SDK passes for it (0: bool). */
static int opt_integer(const struct iotlib_optval *v, size_t ptr_size, int64_t *out)
{
    switch (v->kind) {
    case IOTLIB_OPT_INT:
        *out = v->i;
        return 0;
    case IOTLIB_OPT_PTR:
        if (!v->ptr)
            return IOTHUB_EOPTVALUE;
        if (ptr_size == 0)
            *out = *(const bool *)v->ptr ? 1 : 0;
        else if (ptr_size == sizeof(int))
            *out = *(const int *)v->ptr;
        else if (ptr_size == sizeof(uint64_t)) {
            uint64_t u = *(const uint64_t *)v->ptr;
            if (u > INT64_MAX)
                return IOTHUB_EOPTVALUE;
            *out = (int64_t)u;
        } else
            return IOTHUB_EOPTVALUE;
        return 0;
    case IOTLIB_OPT_STRING: {
        if (!v->s || !v->s[0])
            return IOTHUB_EOPTVALUE;
        if (strcmp(v->s, "true") == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(v->s, "false") == 0) {
            *out = 0;
            return 0;
        }
        char *end;
        errno = 0;
        long long ll = strtoll(v->s, &end, 10);
        if (errno || *end)
            return IOTHUB_EOPTVALUE;
        *out = ll;
        return 0;
    }
    }
    return IOTHUB_EOPTVALUE;
}

static int opt_string(const struct iotlib_optval *v, const char **out)
{
    const char *s = v->kind == IOTLIB_OPT_STRING ? v->s
                    : v->kind == IOTLIB_OPT_PTR  ? (const char *)v->ptr
                                                 : NULL;
    if (!s)
        return IOTHUB_EOPTVALUE;
    *out = s;
    return 0;
}

/* Replaces *field with a copy of s ("" clears it). */
static int replace_string(char **field, const char *s, bool secret)
{
    char *copy = NULL;
    if (s[0]) {
        copy = strdup(s);
        if (!copy)
            return IOTHUB_ENOMEM;
    }
    if (secret)
        free_secret(*field);
    else
        free(*field);
    *field = copy;
    return 0;
}

int iotlib_options_set(struct iotlib_options *o, const char *name, const struct iotlib_optval *v)
{
    if (!name || !v)
        return IOTHUB_EINVAL;
    int64_t i;
    const char *s;
    int rc;
    if (strcmp(name, IOTHUB_OPTION_MESSAGE_TIMEOUT) == 0) {
        if ((rc = opt_integer(v, sizeof(uint64_t), &i)) != 0)
            return rc;
        if (i < 0)
            return IOTHUB_EOPTVALUE;
        o->message_timeout_ms = (uint64_t)i;
        return 0;
    }
    if (strcmp(name, IOTHUB_OPTION_KEEP_ALIVE) == 0) {
        if ((rc = opt_integer(v, sizeof(int), &i)) != 0)
            return rc;
        if (i < 0 || i > 65535)
            return IOTHUB_EOPTVALUE;
        o->keepalive_s = (int)i;
        return 0;
    }
    if (strcmp(name, IOTHUB_OPTION_LOG_TRACE) == 0) {
        if ((rc = opt_integer(v, 0, &i)) != 0)
            return rc;
        o->logtrace = i != 0;
        return 0;
    }
    if (strcmp(name, IOTHUB_OPTION_SAS_TOKEN_LIFETIME) == 0 ||
        strcmp(name, IOTHUB_OPTION_RETRY_TIMEOUT) == 0) {
        bool lifetime = name[0] == 's';
        if (v->kind == IOTLIB_OPT_PTR) {
            if (!v->ptr)
                return IOTHUB_EOPTVALUE;
            size_t z = *(const size_t *)v->ptr;
            if (z > INT32_MAX)
                return IOTHUB_EOPTVALUE;
            i = (int64_t)z;
        } else if ((rc = opt_integer(v, sizeof(size_t), &i)) != 0) {
            return rc;
        }
        if (i < 0 || i > INT32_MAX || (lifetime && i < 60))
            return IOTHUB_EOPTVALUE;
        if (lifetime)
            o->sas_lifetime_s = (size_t)i;
        else
            o->retry_timeout_s = (size_t)i;
        return 0;
    }
    if (strcmp(name, IOTHUB_OPTION_TRUSTED_CERT) == 0) {
        if ((rc = opt_string(v, &s)) != 0)
            return rc;
        if (s[0] && !iotlib_pem_has_cert(s))
            return IOTHUB_ECERT;
        return replace_string(&o->trusted_certs, s, false);
    }
    if (strcmp(name, IOTHUB_OPTION_X509_CERT) == 0) {
        if ((rc = opt_string(v, &s)) != 0)
            return rc;
        if (s[0] && !iotlib_pem_has_cert(s))
            return IOTHUB_ECERT;
        return replace_string(&o->x509_cert, s, false);
    }
    if (strcmp(name, IOTHUB_OPTION_X509_PRIVATE_KEY) == 0) {
        if ((rc = opt_string(v, &s)) != 0)
            return rc;
        if (s[0] && !iotlib_pem_has_key(s))
            return IOTHUB_ECERT;
        return replace_string(&o->x509_key, s, true);
    }
    if (strcmp(name, IOTHUB_OPTION_MODEL_ID) == 0) {
        if ((rc = opt_string(v, &s)) != 0)
            return rc;
        if (strlen(s) > IOTLIB_MODEL_ID_MAX)
            return IOTHUB_EOPTVALUE;
        return replace_string(&o->model_id, s, false);
    }
    return IOTHUB_EOPTION;
}

bool iotlib_retry_policy_valid(int policy)
{
    return policy >= IOTHUB_RETRY_NONE && policy <= IOTHUB_RETRY_RANDOM;
}

#define RETRY_BASE_MS 5000
#define RETRY_CAP_MS  60000

int64_t iotlib_retry_delay_ms(iothub_retry_policy_t policy, unsigned attempt, double r)
{
    if (attempt == 0)
        attempt = 1;
    if (r < 0 || r >= 1)
        r = 0;
    int64_t expo = RETRY_CAP_MS;
    if (attempt <= 7) {
        expo = (int64_t)1000 << (attempt - 1);
        if (expo > RETRY_CAP_MS)
            expo = RETRY_CAP_MS;
    }
    switch (policy) {
    case IOTHUB_RETRY_NONE:
        return -1;
    case IOTHUB_RETRY_IMMEDIATE:
        return 0;
    case IOTHUB_RETRY_INTERVAL:
        return RETRY_BASE_MS;
    case IOTHUB_RETRY_LINEAR_BACKOFF: {
        int64_t d = (int64_t)RETRY_BASE_MS * attempt;
        return d > RETRY_CAP_MS * 10 ? RETRY_CAP_MS * 10 : d;
    }
    case IOTHUB_RETRY_EXPONENTIAL_BACKOFF:
        return expo;
    case IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER:
        return expo + (int64_t)floor((double)expo * 0.2 * r);
    case IOTHUB_RETRY_RANDOM:
        return (int64_t)floor((double)RETRY_BASE_MS * r);
    }
    return -1;
}

double iotlib_random_unit(void)
{
    uint8_t b[4];
    if (random_bytes(b, sizeof(b)) != 0)
        return 0.5;
    uint32_t u = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return (double)u / 4294967296.0;
}

void iotlib_device_auth_free(struct iotlib_device_auth *auth)
{
    free(auth->host);
    free(auth->device_id);
    free_secret(auth->key);
    free_secret(auth->token);
    memset(auth, 0, sizeof(*auth));
}

bool iotlib_key_is_base64(const char *key)
{
    uint8_t buf[128];
    size_t n = strlen(key);
    int len = base64_decode(key, n, buf, sizeof(buf));
    OPENSSL_cleanse(buf, sizeof(buf));
    return len > 0;
}

int iotlib_device_auth_from_parts(const char *host, const char *device_id, const char *key,
                                  struct iotlib_device_auth *auth)
{
    memset(auth, 0, sizeof(*auth));
    if (!host || !device_id || !key || !host[0] || !device_id[0])
        return IOTHUB_EINVAL;
    if (strlen(device_id) > 128 || strlen(host) > 255)
        return IOTHUB_EINVAL;
    if (!iotlib_key_is_base64(key))
        return IOTHUB_EKEY;
    auth->host = strdup(host);
    auth->device_id = strdup(device_id);
    auth->key = strdup(key);
    if (!auth->host || !auth->device_id || !auth->key) {
        iotlib_device_auth_free(auth);
        return IOTHUB_ENOMEM;
    }
    return 0;
}

int iotlib_device_auth_parse(const char *cs, struct iotlib_device_auth *auth)
{
    memset(auth, 0, sizeof(*auth));
    if (!cs)
        return IOTHUB_EINVAL;
    int rc = IOTHUB_ECONNSTR;
    char err[128];
    struct connstr *c = malloc(sizeof(*c));
    if (!c)
        return IOTHUB_ENOMEM;
    if (strlen(cs) >= CONNSTR_MAX || connstr_parse(cs, c, err, sizeof(err)) != 0)
        goto out_connstr;
    if (c->shared_access_key[0] && !iotlib_key_is_base64(c->shared_access_key)) {
        rc = IOTHUB_EKEY;
        goto out_connstr;
    }
    if (connstr_kind(c, err, sizeof(err)) != CONNSTR_DEVICE)
        goto out_connstr;
    /* A policy key (SharedAccessKeyName) and gateways are not supported yet. */
    if (c->shared_access_key_name[0] || c->gateway_host_name[0])
        goto out_connstr;
    if (c->shared_access_key[0]) {
        rc = iotlib_device_auth_from_parts(c->host_name, c->device_id, c->shared_access_key, auth);
        goto out_connstr;
    }
    rc = IOTHUB_ENOMEM;
    auth->host = strdup(c->host_name);
    auth->device_id = strdup(c->device_id);
    if (!auth->host || !auth->device_id)
        goto out_auth;
    if (c->shared_access_signature[0]) {
        auth->token = strdup(c->shared_access_signature);
        if (!auth->token)
            goto out_auth;
    } else {
        auth->x509 = c->x509;
    }
    rc = 0;
    goto out_connstr;

out_auth:
    iotlib_device_auth_free(auth);
out_connstr:
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
    return rc;
}
