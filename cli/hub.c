#include "hub.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/base64.h"
#include "common/connstr.h"
#include "common/random.h"
#include "common/sas.h"
#include "common/urlcode.h"
#include "http.h"
#include "output.h"

#define HUB_TOKEN_LIFETIME 3600 /* seconds; a fresh token is made for every request */
#define HUB_TEXT_MAX       512  /* longest error text shown */

struct hub {
    struct connstr cs;
    struct http_client *http;
    char base_url[CONNSTR_VALUE_MAX + 16]; /* "https://" HostName */
    long timeout_s;                        /* per request; 0 = the HTTP client's default */
};

void hub_set_timeout(struct hub *h, long seconds)
{
    h->timeout_s = seconds;
}

const char *hub_host(const struct hub *h)
{
    return h->cs.host_name;
}

const char *hub_policy(const struct hub *h)
{
    return h->cs.shared_access_key_name;
}

const char *hub_key(const struct hub *h)
{
    return h->cs.shared_access_key;
}

/* A host name, an IPv4 address or a bracketed IPv6 literal, with an optional :port. Keeps
 * anything that would change the URL's meaning (/, ?, #, @, spaces) out of it. */
static bool host_valid(const char *host)
{
    if (host[0] == '\0')
        return false;
    for (const char *p = host; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!isalnum(c) && !strchr("-._:[]", c))
            return false;
    }
    return true;
}

static bool key_valid(const char *key)
{
    uint8_t raw[CONNSTR_VALUE_MAX];
    size_t n = strlen(key);
    int len = base64_decode(key, n, raw, sizeof(raw));
    OPENSSL_cleanse(raw, sizeof(raw));
    return len > 0;
}

int hub_open(const char *login, const char *cafile, struct hub **out)
{
    char err[256];
    int rc = CLI_EXIT_USAGE;

    *out = NULL;
    if (!login || login[0] == '\0') {
        fprintf(stderr, "error: no connection string: pass --login or set "
                        "IOTHUB_CONNECTION_STRING\n");
        return CLI_EXIT_USAGE;
    }
    struct hub *h = calloc(1, sizeof(*h));
    if (!h) {
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    if (connstr_parse(login, &h->cs, err, sizeof(err)) != 0) {
        fprintf(stderr, "error: bad connection string: %s\n", err);
        goto out_free_hub;
    }
    enum connstr_kind kind = connstr_kind(&h->cs, err, sizeof(err));
    if (kind == CONNSTR_INVALID) {
        fprintf(stderr, "error: bad connection string: %s\n", err);
        goto out_free_hub;
    }
    if (kind != CONNSTR_HUB) {
        fprintf(stderr, "error: bad connection string: not a hub connection string (it needs "
                        "HostName, SharedAccessKeyName and SharedAccessKey)\n");
        goto out_free_hub;
    }
    if (!host_valid(h->cs.host_name)) {
        fprintf(stderr, "error: bad connection string: HostName is not a host name\n");
        goto out_free_hub;
    }
    if (!key_valid(h->cs.shared_access_key)) {
        fprintf(stderr, "error: bad connection string: SharedAccessKey is not base64\n");
        goto out_free_hub;
    }
    if (cafile && access(cafile, R_OK) != 0) {
        fprintf(stderr, "error: cannot read the CA file '%s': %s\n", cafile, strerror(errno));
        goto out_free_hub;
    }
    snprintf(h->base_url, sizeof(h->base_url), "https://%s", h->cs.host_name);
    h->http = http_client_new(cafile);
    if (!h->http) {
        fprintf(stderr, "error: cannot create the HTTP client\n");
        rc = CLI_EXIT_ERROR;
        goto out_free_hub;
    }
    *out = h;
    return CLI_EXIT_OK;

out_free_hub:
    OPENSSL_cleanse(&h->cs, sizeof(h->cs));
    free(h);
    return rc;
}

void hub_close(struct hub *h)
{
    if (!h)
        return;
    http_client_free(h->http);
    OPENSSL_cleanse(&h->cs, sizeof(h->cs));
    free(h);
}

int hub_path(char *out, size_t cap, const char *prefix, const char *id, const char *suffix)
{
    size_t plen = strlen(prefix);
    if (plen >= cap)
        return -1;
    memcpy(out, prefix, plen + 1);
    int n = url_encode_component(id, strlen(id), out + plen, cap - plen);
    if (n < 0)
        return -1;
    if (suffix) {
        size_t used = plen + (size_t)n;
        size_t slen = strlen(suffix);
        if (used + slen >= cap)
            return -1;
        memcpy(out + used, suffix, slen + 1);
    }
    return 0;
}

/* A random version-4 UUID, as the Azure SDKs send in Request-Id. */
static int request_id(char out[37])
{
    uint8_t b[16];
    if (random_bytes(b, sizeof(b)) != 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

static int exit_for_status(long status)
{
    switch (status) {
    case 400:
    case 413:
        return CLI_EXIT_BAD_REQUEST;
    case 401:
        return CLI_EXIT_UNAUTHORIZED;
    case 404:
        return CLI_EXIT_NOT_FOUND;
    case 409:
    case 412:
        return CLI_EXIT_CONFLICT;
    default:
        return CLI_EXIT_ERROR;
    }
}

/* Copies len bytes of s into out with control characters turned into spaces and
 * surrounding blanks trimmed, so hub text cannot drive the terminal. */
static void copy_printable(char *out, size_t cap, const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    if (cap > 0)
        out[n] = '\0';
}

/* The newer error shape: Message is itself JSON, {"errorCode":404103,"message":"..."}. */
static void error_from_nested(const char *msg, char *code, size_t ccap, char *text, size_t tcap)
{
    json_t *inner = json_loads(msg, 0, NULL);
    if (!json_is_object(inner)) {
        copy_printable(text, tcap, msg, strlen(msg));
        goto out_free_inner;
    }
    json_t *ec = json_object_get(inner, "errorCode");
    if (code[0] == '\0' && json_is_integer(ec))
        snprintf(code, ccap, "%lld", (long long)json_integer_value(ec));
    else if (code[0] == '\0' && json_is_string(ec))
        copy_printable(code, ccap, json_string_value(ec), json_string_length(ec));
    json_t *m = json_object_get(inner, "message");
    if (json_is_string(m))
        copy_printable(text, tcap, json_string_value(m), json_string_length(m));

out_free_inner:
    json_decref(inner);
}

/* Splits the hub's error answer into a code and a human text (spec 3.2). */
static void error_describe(const struct http_response *r, char *code, size_t ccap, char *text,
                           size_t tcap)
{
    copy_printable(code, ccap, r->error_code, strlen(r->error_code));
    text[0] = '\0';

    json_t *body = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    json_t *msg = json_object_get(body, "Message");
    if (!json_is_string(msg))
        msg = json_object_get(body, "message");
    if (json_is_string(msg)) {
        const char *m = json_string_value(msg);
        if (strncmp(m, "ErrorCode:", 10) == 0) {
            const char *c = m + 10;
            const char *semi = strchr(c, ';');
            size_t clen = semi ? (size_t)(semi - c) : strlen(c);
            if (code[0] == '\0')
                copy_printable(code, ccap, c, clen);
            if (semi) {
                /* As Node does: the text ends at the next ';' (spec 3.2). */
                const char *end = strchr(semi + 1, ';');
                copy_printable(text, tcap, semi + 1,
                               end ? (size_t)(end - (semi + 1)) : strlen(semi + 1));
            }
        } else if (m[0] == '{') {
            error_from_nested(m, code, ccap, text, tcap);
        } else {
            copy_printable(text, tcap, m, strlen(m));
        }
    } else if (!body && r->body) {
        /* Not JSON (a proxy's page, say): its first line. */
        const char *nl = strchr(r->body, '\n');
        copy_printable(text, tcap, r->body, nl ? (size_t)(nl - r->body) : r->body_len);
    }
    json_decref(body);

    if (code[0] == '\0')
        snprintf(code, ccap, "HTTP %ld", r->status);
    if (text[0] == '\0')
        copy_printable(text, tcap, r->reason[0] ? r->reason : "no details",
                       strlen(r->reason[0] ? r->reason : "no details"));
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

/* Builds the If-Match value: the etag with any surrounding quotes, quoted once. */
static char *if_match_value(const char *etag)
{
    size_t len = strlen(etag);
    if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
        etag++;
        len -= 2;
    }
    char *v = malloc(len + 3);
    if (!v)
        return NULL;
    v[0] = '"';
    memcpy(v + 1, etag, len);
    v[len + 1] = '"';
    v[len + 2] = '\0';
    return v;
}

int hub_call(struct hub *h, const char *method, const char *path, const json_t *body,
             const char *etag, json_t **out)
{
    char token[SAS_TOKEN_MAX];
    char rid[37];
    char err[512];
    char *url = NULL, *payload = NULL, *if_match = NULL;
    struct http_response resp = {0};
    int rc = CLI_EXIT_ERROR;

    if (out)
        *out = NULL;
    size_t url_cap = strlen(h->base_url) + strlen(path) + sizeof("?api-version=" HUB_API_VERSION);
    url = malloc(url_cap);
    if (!url)
        goto out_oom;
    snprintf(url, url_cap, "%s%s%capi-version=%s", h->base_url, path, strchr(path, '?') ? '&' : '?',
             HUB_API_VERSION);
    if (body) {
        payload = json_dumps(body, JSON_COMPACT | CLI_JSON_REAL);
        if (!payload)
            goto out_oom;
    }
    if (etag) {
        if_match = if_match_value(etag);
        if (!if_match)
            goto out_oom;
    }
    if (request_id(rid) != 0) {
        fprintf(stderr, "error: the random generator failed\n");
        goto out_free;
    }
    int64_t expiry = (int64_t)time(NULL) + HUB_TOKEN_LIFETIME;
    if (sas_build(h->cs.host_name, h->cs.shared_access_key, h->cs.shared_access_key_name, expiry,
                  token, sizeof(token)) < 0) {
        fprintf(stderr, "error: cannot sign the request (check the connection string's key)\n");
        rc = CLI_EXIT_USAGE;
        goto out_free;
    }

    struct http_request req = {
        .method = method,
        .url = url,
        .authorization = token,
        .request_id = rid,
        .if_match = if_match,
        .body = payload,
        .body_len = payload ? strlen(payload) : 0,
        .timeout_s = h->timeout_s,
    };
    int hr = http_perform(h->http, &req, &resp, err, sizeof(err));
    if (hr != HTTP_OK) {
        fprintf(stderr, "error: %s\n", err);
        rc = hr == HTTP_ERR_CONNECT ? CLI_EXIT_UNREACHABLE
             : hr == HTTP_ERR_URL   ? CLI_EXIT_USAGE
                                    : CLI_EXIT_ERROR;
        goto out_free;
    }
    if (resp.status < 200 || resp.status > 299) {
        char code[128], text[HUB_TEXT_MAX];
        error_describe(&resp, code, sizeof(code), text, sizeof(text));
        fprintf(stderr, "error: %s: %s\n", code, text);
        rc = exit_for_status(resp.status);
        goto out_free;
    }
    if (resp.body && !blank(resp.body, resp.body_len)) {
        json_error_t jerr;
        json_t *parsed = json_loadb(resp.body, resp.body_len, 0, &jerr);
        if (!parsed) {
            fprintf(stderr, "error: the hub answered %ld with a body that is not JSON: %s\n",
                    resp.status, jerr.text);
            goto out_free;
        }
        if (out)
            *out = parsed;
        else
            json_decref(parsed);
    }
    rc = CLI_EXIT_OK;
    goto out_free;

out_oom:
    fprintf(stderr, "error: out of memory\n");
out_free:
    OPENSSL_cleanse(token, sizeof(token));
    http_response_release(&resp);
    free(if_match);
    if (payload) {
        OPENSSL_cleanse(payload, strlen(payload)); /* it may hold device keys */
        free(payload);
    }
    free(url);
    return rc;
}
