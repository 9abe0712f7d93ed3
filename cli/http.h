/* HTTPS requests for the CLI, over libcurl.
 *
 * One struct http_client owns one CURL easy handle, reused for every request so that the
 * connection to the hub is kept alive between requests. Not thread-safe; one client per
 * thread. The caller must have called curl_global_init() before http_client_new(). */
#ifndef IOTHUB_CLI_HTTP_H
#define IOTHUB_CLI_HTTP_H

#include <stddef.h>

#define HTTP_HEADER_VALUE_MAX 256

struct http_client;

/* One request. Strings are borrowed for the duration of http_perform(). */
struct http_request {
    const char *method;        /* "GET", "PUT", "DELETE", ... */
    const char *url;           /* absolute https URL, path and query already encoded */
    const char *authorization; /* Authorization header value, or NULL */
    const char *request_id;    /* Request-Id header value, or NULL */
    const char *if_match;      /* If-Match header value (quotes included), or NULL */
    const char *body;          /* JSON text sent with the JSON content type, or NULL */
    size_t body_len;
    long timeout_s; /* the whole request, seconds; 0 = HTTP_TOTAL_TIMEOUT (120 s) */
};

/* What came back. Owned by the caller: release with http_response_release(). */
struct http_response {
    long status;                              /* HTTP status code */
    char reason[64];                          /* reason phrase of the status line */
    char error_code[HTTP_HEADER_VALUE_MAX];   /* iothub-errorcode header, "" if absent */
    char etag[HTTP_HEADER_VALUE_MAX];         /* ETag header as sent, "" if absent */
    char content_type[HTTP_HEADER_VALUE_MAX]; /* Content-Type header, "" if absent */
    char *body;                               /* NUL-terminated; NULL when empty */
    size_t body_len;
};

enum http_result {
    HTTP_OK = 0,            /* a response arrived (whatever its status) */
    HTTP_ERR_CONNECT = -1,  /* no response: name resolution, connect, TLS, timeout, reset */
    HTTP_ERR_URL = -2,      /* the URL is malformed (bad HostName) */
    HTTP_ERR_INTERNAL = -3, /* out of memory, response too large, curl misuse */
};

/* Creates a client. cafile (PEM bundle) replaces the system CAs when not NULL; the string
 * is copied. Returns NULL when out of memory. */
struct http_client *http_client_new(const char *cafile);

/* Frees the client and closes its connection. NULL is allowed. */
void http_client_free(struct http_client *c);

/* Sends req and reads the response into *resp (which is reset first). On anything but
 * HTTP_OK writes a human reason (never containing header values) to err. */
int http_perform(struct http_client *c, const struct http_request *req, struct http_response *resp,
                 char *err, size_t errlen);

/* Frees the body; the struct may be reused. */
void http_response_release(struct http_response *resp);

#endif
