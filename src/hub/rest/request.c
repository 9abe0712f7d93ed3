#include "hub/rest/request.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/random.h"
#include "hub/hub.h"
#include "hub/net/threads.h"

const char *rest_header(const struct rest_request *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

const char *rest_query_param(const struct rest_request *r, const char *name, char *buf, size_t cap)
{
    if (!r->query)
        return NULL;
    size_t name_len = strlen(name);
    const char *p = r->query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            size_t vlen = len - name_len - 1;
            if (vlen >= cap)
                return NULL;
            memcpy(buf, p + name_len + 1, vlen);
            buf[vlen] = '\0';
            return buf;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

static void common_headers(struct rest_request *r)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(out, "x-ms-request-id", r->request_id);
}

static void send_body(struct rest_request *r, int status, const char *reason, const char *json)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(out, "Content-Type", "application/json; charset=utf-8");
    common_headers(r);
    struct evbuffer *buf = evbuffer_new();
    if (!buf) {
        evhttp_send_error(r->req, 500, "Internal Server Error");
        return;
    }
    evbuffer_add(buf, json, strlen(json));
    evhttp_send_reply(r->req, status, reason, buf);
    evbuffer_free(buf);
}

void rest_reply_json(struct rest_request *r, int status, json_t *body, const char *etag)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        rest_reply_error(r, ERR_SERVER, "out of memory formatting the response");
        return;
    }
    if (etag) {
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "ETag", quoted);
    }
    send_body(r, status, status == 200 ? "OK" : "Created", text);
    free(text);
    log_debug("rest request served", "method=%s path=%s status=%d", r->method_name, r->path,
              status);
}

void rest_reply_no_content(struct rest_request *r)
{
    common_headers(r);
    evhttp_send_reply(r->req, 204, "No Content", NULL);
    log_debug("rest request served", "method=%s path=%s status=204", r->method_name, r->path);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Internal Server Error";
    }
}

void rest_reply_error(struct rest_request *r, enum hub_error code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    for (char *p = text; *p; p++)
        if (*p == ';')
            *p = ',';

    char tracking[33] = "00000000000000000000000000000000";
    random_hex32(tracking);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[64];
    strftime(stamp, sizeof(stamp), "%m/%d/%Y %H:%M:%S", &tm);

    char message[768], exception[160];
    snprintf(message, sizeof(message), "ErrorCode:%s;%s", hub_error_name(code), text);
    snprintf(exception, sizeof(exception), "Tracking ID:%s-G:0-TimeStamp:%s", tracking, stamp);
    json_t *body = json_pack("{s:s, s:s}", "Message", message, "ExceptionMessage", exception);
    char *json = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);

    int status = hub_error_http_status(code);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "iothub-errorcode",
                      hub_error_name(code));
    send_body(r, status, reason_phrase(status), json ? json : "{}");
    free(json);

    char quoted[600];
    log_emit(status >= 500 ? LOG_ERROR : LOG_INFO, "rest request refused",
             "method=%s path=%s status=%d code=%s reason=%s", r->method_name, r->path, status,
             hub_error_name(code), log_quote(text, quoted, sizeof(quoted)));
}

struct rest_request *rest_request_keep(const struct rest_request *r)
{
    struct rest_request *kept = malloc(sizeof(*kept));
    if (!kept)
        return NULL;
    *kept = *r;
    for (size_t i = 0; i < r->segment_count; i++)
        kept->segments[i] = kept->segment_store + (r->segments[i] - r->segment_store);
    kept->query = NULL;
    kept->body = NULL;
    kept->body_len = 0;
    return kept;
}

struct net_thread *rest_request_thread(const struct rest_request *r)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
    struct event_base *base = evcon ? evhttp_connection_get_base(evcon) : NULL;
    for (int i = 0; base && i < r->hub->thread_count; i++)
        if (r->hub->threads[i].base == base)
            return &r->hub->threads[i];
    return NULL;
}
