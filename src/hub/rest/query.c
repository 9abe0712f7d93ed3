/* POST /devices/query (spec 3.7). For now the language is `SELECT * FROM devices`; the
 * answer is a page of twin documents (twin_json.h), with x-ms-continuation only when more
 * exist. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"
#include "hub/hub.h"
#include "hub/rest/handlers.h"
#include "hub/twin_json.h"
#include "store/twin_store.h"

#define QUERY_BODY_MAX     (8 * 1024)
#define QUERY_PAGE_DEFAULT 100
#define QUERY_PAGE_MAX     1000
#define QUERY_DEVICES_MAX  1000000

/* Matches `SELECT * FROM devices` with any case and whitespace. */
static bool is_select_all_devices(const char *q)
{
    static const char *const words[] = {"select", "*", "from", "devices"};
    const char *p = q;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        while (isspace((unsigned char)*p))
            p++;
        size_t n = strlen(words[i]);
        if (strncasecmp(p, words[i], n) != 0)
            return false;
        p += n;
        if (i < 3 && words[i][0] != '*' && !isspace((unsigned char)*p))
            return false;
    }
    while (isspace((unsigned char)*p))
        p++;
    return *p == '\0';
}

/* The twin document of a device: identity members plus its stored twin (tags and
 * properties; the empty twin when nothing was written yet). *gone is set when the device
 * was deleted after the listing. NULL when it is gone or cannot be read. */
static json_t *twin_of(struct registry *reg, const struct device *dev, bool *gone)
{
    struct twin_doc doc;
    int rc = twin_store_get(reg, dev->device_id, &doc);
    *gone = rc == REG_NOT_FOUND;
    if (rc != REG_OK)
        return NULL;
    json_t *twin = twin_json(dev, &doc);
    twin_doc_free(&doc);
    return twin;
}

/* Continuation tokens are opaque to clients: base64 of the decimal index of the next row. */
static long parse_continuation(const char *token)
{
    if (!token)
        return 0;
    uint8_t raw[32];
    int n = base64_decode(token, strlen(token), raw, sizeof(raw) - 1);
    if (n <= 0)
        return -1;
    raw[n] = '\0';
    char *end;
    long v = strtol((const char *)raw, &end, 10);
    return (*end == '\0' && v >= 0 && v < QUERY_DEVICES_MAX) ? v : -1;
}

void rest_devices_query(struct rest_request *r)
{
    if (r->body_len > QUERY_BODY_MAX) {
        rest_reply_error(r, ERR_MESSAGE_TOO_LARGE, "The query body is %zu bytes, at most %d",
                         r->body_len, QUERY_BODY_MAX);
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(r->body, r->body_len, 0, &jerr);
    const char *query = body ? json_string_value(json_object_get(body, "query")) : NULL;
    if (!query) {
        json_decref(body);
        rest_reply_error(r, ERR_ARGUMENT_INVALID,
                         "Invalid query: the body must be {\"query\":\"SELECT ...\"}");
        return;
    }
    bool supported = is_select_all_devices(query);
    json_decref(body);
    if (!supported) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID,
                         "Invalid query: only SELECT * FROM devices is supported so far");
        return;
    }

    const char *max_s = rest_header(r, "x-ms-max-item-count");
    long page = max_s ? strtol(max_s, NULL, 10) : QUERY_PAGE_DEFAULT;
    if (page < 1 || page > QUERY_PAGE_MAX)
        page = QUERY_PAGE_MAX;
    long start = parse_continuation(rest_header(r, "x-ms-continuation"));
    if (start < 0) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "Invalid x-ms-continuation token");
        return;
    }

    struct device *devs = NULL;
    size_t count = 0;
    int rc = registry_list_devices(r->hub->registry, (size_t)(start + page + 1), &devs, &count);
    if (rc != REG_OK) {
        rest_reply_error(r, ERR_SERVICE_UNAVAILABLE, "The registry could not be read (%s)",
                         registry_strerror(rc));
        return;
    }
    json_t *arr = json_array();
    size_t end = (size_t)start + (size_t)page < count ? (size_t)start + (size_t)page : count;
    for (size_t i = (size_t)start; arr && i < end; i++) {
        bool gone = false;
        json_t *twin = twin_of(r->hub->registry, &devs[i], &gone);
        if (!twin && gone)
            continue;
        if (json_array_append_new(arr, twin) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    free(devs);
    if (!arr) {
        rest_reply_error(r, ERR_SERVER, "out of memory answering the query");
        return;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(out, "x-ms-item-type", "twin");
    if (end < count) {
        char next[24], token[48];
        snprintf(next, sizeof(next), "%zu", end);
        base64_encode((const uint8_t *)next, strlen(next), token, sizeof(token));
        evhttp_add_header(out, "x-ms-continuation", token);
    }
    rest_reply_json(r, 200, arr, NULL);
}
