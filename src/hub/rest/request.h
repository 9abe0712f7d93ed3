/* One REST request while it is handled: the decoded path, the body, and the replies. The
 * reply functions send the response; exactly one is called per request. */
#ifndef IOTHUB_HUB_REST_REQUEST_H
#define IOTHUB_HUB_REST_REQUEST_H

#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>

#include "hub/rest/errors.h"

#define REST_MAX_SEGMENTS 8
#define REST_PATH_MAX     2048

struct hub;
struct net_thread;

struct rest_request {
    struct evhttp_request *req;
    struct hub *hub;
    enum evhttp_cmd_type method;
    const char *method_name;
    char path[REST_PATH_MAX];          /* decoded, for logs and scope checks: "devices/d1" */
    char segment_store[REST_PATH_MAX]; /* backing store of segments[] */
    const char *segments[REST_MAX_SEGMENTS];
    size_t segment_count;
    const char *query; /* raw query string, or NULL */
    const char *body;  /* not NUL-terminated */
    size_t body_len;
    char request_id[40];
};

/* A request header's value, or NULL. */
const char *rest_header(const struct rest_request *r, const char *name);

/* A query parameter's raw value, or NULL. */
const char *rest_query_param(const struct rest_request *r, const char *name, char *buf, size_t cap);

/* Replies 200 (or status) with body as JSON; body is consumed (its reference dropped).
 * etag, when not NULL, is sent quoted in ETag. */
void rest_reply_json(struct rest_request *r, int status, json_t *body, const char *etag);
void rest_reply_no_content(struct rest_request *r);
/* Replies with the hosted service's legacy error body and the iothub-errorcode header:
 * {"Message":"ErrorCode:<name>;<text>","ExceptionMessage":"Tracking ID:..."}. The text
 * must not hold ';' (Node splits on it); any ';' is replaced by ','. */
void rest_reply_error(struct rest_request *r, enum hub_error code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replying later, from another callback of the same network thread (direct methods): a
 * heap copy of r that outlives the handler, without body and query (they die with the
 * handler's view of the request). The caller frees it with free() after its one reply, or
 * without replying when evhttp has freed the request (see evhttp_connection_set_closecb). */
struct rest_request *rest_request_keep(const struct rest_request *r);
/* The network thread serving r (its base and mailbox), or NULL. */
struct net_thread *rest_request_thread(const struct rest_request *r);

#endif
