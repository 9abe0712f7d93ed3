#include "hub/rest/router.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/isotime.h"
#include "common/policy.h"
#include "common/random.h"
#include "common/strbuf.h"
#include "common/urlcode.h"
#include "hub/auth/service_auth.h"
#include "hub/hub.h"
#include "hub/net/threads.h"
#include "hub/rest/handlers.h"

/* A route: method, path pattern ("*" matches one segment), needed rights, handler. */
struct route {
    enum evhttp_cmd_type method;
    const char *pattern[REST_MAX_SEGMENTS];
    unsigned rights;
    void (*handler)(struct rest_request *r);
};

static const struct route routes[] = {
    {EVHTTP_REQ_GET, {"devices"}, RIGHT_REGISTRY_READ, rest_devices_list},
    {EVHTTP_REQ_POST, {"devices", "query"}, RIGHT_REGISTRY_READ, rest_devices_query},
    {EVHTTP_REQ_GET, {"devices", "*"}, RIGHT_REGISTRY_READ, rest_device_get},
    {EVHTTP_REQ_PUT, {"devices", "*"}, RIGHT_REGISTRY_WRITE, rest_device_put},
    {EVHTTP_REQ_DELETE, {"devices", "*"}, RIGHT_REGISTRY_WRITE, rest_device_delete},
    {EVHTTP_REQ_GET, {"statistics", "devices"}, RIGHT_REGISTRY_READ, rest_statistics_devices},
    /* Device twins (twins.c) and direct methods (methods.c). */
    {EVHTTP_REQ_GET, {"twins", "*"}, RIGHT_REGISTRY_READ, rest_twin_get},
    {EVHTTP_REQ_PATCH, {"twins", "*"}, RIGHT_REGISTRY_WRITE, rest_twin_patch},
    {EVHTTP_REQ_PUT, {"twins", "*"}, RIGHT_REGISTRY_WRITE, rest_twin_put},
    {EVHTTP_REQ_POST, {"twins", "*", "methods"}, RIGHT_SERVICE_CONNECT, rest_method_invoke},
    {EVHTTP_REQ_GET,
     {"eventhub", "consumergroups"},
     RIGHT_REGISTRY_READ,
     rest_consumer_groups_list},
    {EVHTTP_REQ_PUT,
     {"eventhub", "consumergroups", "*"},
     RIGHT_REGISTRY_WRITE,
     rest_consumer_group_put},
    {EVHTTP_REQ_DELETE,
     {"eventhub", "consumergroups", "*"},
     RIGHT_REGISTRY_WRITE,
     rest_consumer_group_delete},
};

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    default:
        return "OTHER";
    }
}

static bool pattern_matches(const struct route *route, const struct rest_request *r)
{
    size_t n = 0;
    while (n < REST_MAX_SEGMENTS && route->pattern[n])
        n++;
    if (n != r->segment_count)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(route->pattern[i], "*") != 0 &&
            strcasecmp(route->pattern[i], r->segments[i]) != 0)
            return false;
    return true;
}

/* Splits the raw path into percent-decoded segments. One trailing '/' is ignored (Node's
 * Registry.list sends "/devices/"). Returns false on a bad encoding or too many segments. */
static bool split_path(struct rest_request *r, const char *raw, size_t raw_len)
{
    size_t used = 0, path_used = 0;
    r->segment_count = 0;
    r->path[0] = '\0';
    if (raw_len && raw[0] == '/') {
        raw++;
        raw_len--;
    }
    if (raw_len && raw[raw_len - 1] == '/')
        raw_len--;
    size_t start = 0;
    while (start < raw_len) {
        const char *slash = memchr(raw + start, '/', raw_len - start);
        size_t len = slash ? (size_t)(slash - (raw + start)) : raw_len - start;
        if (r->segment_count == REST_MAX_SEGMENTS)
            return false;
        int dec =
            url_decode(raw + start, len, r->segment_store + used, sizeof(r->segment_store) - used);
        if (dec < 0)
            return false;
        r->segments[r->segment_count++] = r->segment_store + used;
        int w = snprintf(r->path + path_used, sizeof(r->path) - path_used, "%s%s",
                         path_used ? "/" : "", r->segment_store + used);
        if (w < 0 || (size_t)w >= sizeof(r->path) - path_used)
            return false;
        path_used += (size_t)w;
        used += (size_t)dec + 1;
        start += len + 1;
    }
    return true;
}

static void request_id(struct rest_request *r)
{
    const char *given = rest_header(r, "Request-Id");
    if (given && strlen(given) < sizeof(r->request_id) &&
        strspn(given, "0123456789abcdefABCDEF-") == strlen(given))
        str_copy(r->request_id, sizeof(r->request_id), given);
    else if (random_hex32(r->request_id) != 0)
        str_copy(r->request_id, sizeof(r->request_id), "0");
}

void rest_dispatch(struct evhttp_request *req, void *arg)
{
    struct net_thread *thread = arg;
    struct rest_request r = {.req = req, .hub = thread->hub};
    r.method = evhttp_request_get_command(req);
    r.method_name = method_name(r.method);
    request_id(&r);

    const char *uri = evhttp_request_get_uri(req);
    const char *q = strchr(uri, '?');
    size_t raw_len = q ? (size_t)(q - uri) : strlen(uri);
    r.query = q ? q + 1 : NULL;
    if (!split_path(&r, uri, raw_len)) {
        str_copy(r.path, sizeof(r.path), "(undecodable)");
        rest_reply_error(&r, ERR_ARGUMENT_INVALID,
                         "the request path is not valid percent-encoding or is too long");
        return;
    }

    const struct route *route = NULL;
    bool path_known = false;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!pattern_matches(&routes[i], &r))
            continue;
        path_known = true;
        if (routes[i].method == r.method) {
            route = &routes[i];
            break;
        }
    }
    if (!route) {
        if (path_known)
            rest_reply_error(&r, ERR_METHOD_NOT_ALLOWED, "%s is not supported on /%s",
                             r.method_name, r.path);
        else
            rest_reply_error(&r, ERR_NOT_FOUND, "no such resource: /%s", r.path);
        return;
    }

    char reason[512];
    enum service_auth_result auth =
        service_auth_check(r.hub, rest_header(&r, "Authorization"), r.path, route->rights,
                           time_now_ms() / 1000, NULL, 0, reason, sizeof(reason));
    if (auth != SERVICE_AUTH_OK) {
        rest_reply_error(&r,
                         auth == SERVICE_AUTH_EXPIRED ? ERR_UNAUTHORIZED : ERR_UNAUTHORIZED_ACCESS,
                         "%s", reason);
        return;
    }

    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    r.body_len = evbuffer_get_length(in);
    r.body = r.body_len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (r.body_len && !r.body) {
        rest_reply_error(&r, ERR_SERVER, "out of memory reading the request body");
        return;
    }
    route->handler(&r);
}
