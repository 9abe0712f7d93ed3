#include "http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strbuf.h"

#define HTTP_USER_AGENT       "iothub-cli/0.1"
#define HTTP_BODY_MAX         (64u * 1024u * 1024u) /* refuse larger responses */
#define HTTP_CONNECT_TIMEOUT  10L                   /* seconds */
#define HTTP_TOTAL_TIMEOUT    120L                  /* seconds, whole request */
#define HTTP_HEADER_LINE_MAX  (HTTP_HEADER_VALUE_MAX + 64)
#define HTTP_CONTENT_TYPE_HDR "Content-Type: application/json; charset=utf-8"

struct http_client {
    CURL *curl;
    char *cafile; /* owned; NULL = system CAs */
};

/* The state of one transfer, handed to the curl callbacks. */
struct http_transfer {
    struct http_response *resp;
    size_t cap;
    bool too_large;
    bool oom;
};

struct http_client *http_client_new(const char *cafile)
{
    struct http_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (cafile) {
        c->cafile = strdup(cafile);
        if (!c->cafile)
            goto out_free_client;
    }
    c->curl = curl_easy_init();
    if (!c->curl)
        goto out_free_cafile;
    return c;

out_free_cafile:
    free(c->cafile);
out_free_client:
    free(c);
    return NULL;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->cafile);
    free(c);
}

void http_response_release(struct http_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_transfer *t = userdata;
    struct http_response *r = t->resp;
    size_t n = size * nmemb;

    if (r->body_len + n > HTTP_BODY_MAX) {
        t->too_large = true;
        return 0; /* aborts the transfer */
    }
    if (r->body_len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *grown = realloc(r->body, cap);
        if (!grown) {
            t->oom = true;
            return 0;
        }
        r->body = grown;
        t->cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

/* Copies the value of header line `line` (len bytes) into out when its name is `name`
 * (case-insensitive). Surrounding blanks and the CR LF are stripped. */
static void header_take(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
        return;
    const char *v = line + nlen + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    str_copy_n(out, cap, v, (size_t)(end - v));
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_transfer *t = userdata;
    struct http_response *r = t->resp;
    size_t n = size * nmemb;

    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new status line (after a 100 Continue, say): forget earlier headers. */
        r->error_code[0] = r->etag[0] = r->content_type[0] = r->reason[0] = '\0';
        const char *sp = memchr(data, ' ', n);
        if (sp)
            sp = memchr(sp + 1, ' ', n - (size_t)(sp + 1 - data));
        if (sp) {
            const char *end = data + n;
            while (end > sp + 1 && (end[-1] == '\r' || end[-1] == '\n'))
                end--;
            str_copy_n(r->reason, sizeof(r->reason), sp + 1, (size_t)(end - (sp + 1)));
        }
        return n;
    }
    header_take(data, n, "iothub-errorcode", r->error_code, sizeof(r->error_code));
    header_take(data, n, "ETag", r->etag, sizeof(r->etag));
    header_take(data, n, "Content-Type", r->content_type, sizeof(r->content_type));
    return n;
}

/* Appends "Name: value" to the list. Values must not hold CR or LF (header injection). */
static int header_add(struct curl_slist **list, const char *name, const char *value)
{
    char line[HTTP_HEADER_LINE_MAX + 4096];
    if (strpbrk(value, "\r\n"))
        return -1;
    int n = snprintf(line, sizeof(line), "%s: %s", name, value);
    if (n < 0 || (size_t)n >= sizeof(line))
        return -1;
    struct curl_slist *grown = curl_slist_append(*list, line);
    if (!grown)
        return -1;
    *list = grown;
    return 0;
}

static struct curl_slist *build_headers(const struct http_request *req)
{
    struct curl_slist *list = NULL;
    if (req->authorization && header_add(&list, "Authorization", req->authorization) != 0)
        goto out_fail;
    if (req->request_id && header_add(&list, "Request-Id", req->request_id) != 0)
        goto out_fail;
    if (req->if_match && header_add(&list, "If-Match", req->if_match) != 0)
        goto out_fail;
    struct curl_slist *grown;
    if (req->body) {
        grown = curl_slist_append(list, HTTP_CONTENT_TYPE_HDR);
        if (!grown)
            goto out_fail;
        list = grown;
    }
    /* No "Expect: 100-continue" round trip; say what we read instead of curl's * / *. */
    static const char *const fixed[] = {"Expect:", "Accept: application/json"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        grown = curl_slist_append(list, fixed[i]);
        if (!grown)
            goto out_fail;
        list = grown;
    }
    return list;

out_fail:
    curl_slist_free_all(list);
    return NULL;
}

static bool is_connect_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return true;
    default:
        return false;
    }
}

/* Sets every option of one request. Returns CURLE_OK or the first failure. */
static CURLcode setup(struct http_client *c, const struct http_request *req,
                      struct curl_slist *headers, struct http_transfer *t, char *errbuf)
{
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)

    /* curl_easy_reset keeps the live connection, so keep-alive survives it. */
    curl_easy_reset(h);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_PATH_AS_IS, 1L); /* device ids may be "." or ".." */
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT);
    SET(CURLOPT_TIMEOUT, req->timeout_s > 0 ? req->timeout_s : HTTP_TOTAL_TIMEOUT);
    SET(CURLOPT_USERAGENT, HTTP_USER_AGENT);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    if (c->cafile)
        SET(CURLOPT_CAINFO, c->cafile);
    /* A POST always sends its (maybe empty) body from memory, never from stdin. */
    if (req->body || strcmp(req->method, "POST") == 0) {
        SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
        SET(CURLOPT_CUSTOMREQUEST, req->method);
#undef SET
    return rc;
}

int http_perform(struct http_client *c, const struct http_request *req, struct http_response *resp,
                 char *err, size_t errlen)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct http_transfer t = {.resp = resp};
    int result = HTTP_ERR_INTERNAL;

    memset(resp, 0, sizeof(*resp));
    struct curl_slist *headers = build_headers(req);
    if (!headers) {
        snprintf(err, errlen, "cannot build the request headers");
        return HTTP_ERR_INTERNAL;
    }

    CURLcode rc = setup(c, req, headers, &t, errbuf);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot set up the request: %s", curl_easy_strerror(rc));
        goto out_free_headers;
    }
    rc = curl_easy_perform(c->curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
        result = HTTP_OK;
        goto out_free_headers;
    }

    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (t.too_large) {
        snprintf(err, errlen, "the hub's response is larger than %u bytes", HTTP_BODY_MAX);
    } else if (t.oom) {
        snprintf(err, errlen, "out of memory");
    } else if (rc == CURLE_URL_MALFORMAT) {
        snprintf(err, errlen, "bad hub address: %s", why);
        result = HTTP_ERR_URL;
    } else if (is_connect_error(rc)) {
        snprintf(err, errlen, "cannot reach the hub: %s", why);
        result = HTTP_ERR_CONNECT;
    } else {
        snprintf(err, errlen, "request failed: %s", why);
    }
    http_response_release(resp);

out_free_headers:
    /* Drop the handle's pointers to this frame (error buffer, header list, callbacks'
     * data); the live connection stays for the next request. */
    curl_easy_reset(c->curl);
    curl_slist_free_all(headers);
    return result;
}
