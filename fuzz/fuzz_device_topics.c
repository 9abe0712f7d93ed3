/* libFuzzer target: what a hub publishes to a libiothub device (lib/device_topics.c):
 * topic classification and the C2D property bag decoded into a message.
 *
 * Input: the PUBLISH topic, then optionally '\n' and the payload. Besides "no crash, no
 * sanitizer report" it checks that
 *  - parsing returns 0 or IOTHUB_EPROTOCOL, and every span it returns lies inside the topic;
 *  - a method name (1..IOTLIB_METHOD_NAME_MAX bytes, no '/' or NUL) and a request id respect
 *    their limits, and the request id can be echoed in a topic;
 *  - a decoded C2D message has the payload as its body, at most
 *    IOTHUB_MESSAGE_MAX_PROPERTIES application properties, none with an empty key or a key
 *    starting with '$';
 *  - encoding the decoded message's properties as a bag and decoding that gives the same
 *    ids, content type and encoding, and properties back. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device_topics.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DEVICE_ID "dev1"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_span(struct iotlib_span s, const char *topic, size_t len)
{
    check(s.len == 0 || (s.ptr >= topic && s.ptr + s.len <= topic + len));
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A request id goes back into a PUBLISH topic; a method name becomes a C string. */
static void check_echoable(struct iotlib_span s, size_t max)
{
    check(s.len >= 1 && s.len <= max);
    for (size_t i = 0; i < s.len; i++)
        check(s.ptr[i] != '/' && s.ptr[i] != '+' && s.ptr[i] != '#' && s.ptr[i] != '\0');
}

static void check_name(struct iotlib_span s)
{
    check(s.len >= 1 && s.len <= IOTLIB_METHOD_NAME_MAX);
    check(memchr(s.ptr, '/', s.len) == NULL && memchr(s.ptr, '\0', s.len) == NULL);
}

static void check_round_trip(const iothub_message_t *m)
{
    size_t n = iothub_message_property_count(m);
    check(n <= IOTHUB_MESSAGE_MAX_PROPERTIES);
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        check(iothub_message_property_at(m, i, &k, &v) == 0);
        check(k[0] != '\0' && k[0] != '$' && v != NULL);
    }
    size_t cap = 64 * 1024 + 16 * 1024;
    char *bag = malloc(cap);
    if (!bag)
        return;
    int len = iothub_message_encode_property_bag(m, bag, cap);
    iothub_message_t *again = NULL;
    if (len >= 0 && iotlib_c2d_message_decode(bag, (size_t)len, NULL, 0, &again) == 0) {
        check(same_str(iothub_message_get_message_id(m), iothub_message_get_message_id(again)));
        check(same_str(iothub_message_get_correlation_id(m),
                       iothub_message_get_correlation_id(again)));
        check(same_str(iothub_message_get_content_type(m), iothub_message_get_content_type(again)));
        check(same_str(iothub_message_get_content_encoding(m),
                       iothub_message_get_content_encoding(again)));
        check(iothub_message_property_count(again) == n);
        for (size_t i = 0; i < n; i++) {
            const char *k, *v;
            iothub_message_property_at(m, i, &k, &v);
            check(same_str(iothub_message_property_get(again, k), v));
        }
        iothub_message_destroy(again);
    }
    free(bag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t topic_len = nl ? (size_t)(nl - data) : size;
    const uint8_t *body = nl ? nl + 1 : NULL;
    size_t body_len = nl ? size - topic_len - 1 : 0;
    /* A private copy, so that reads past the end are caught. */
    char *topic = malloc(topic_len ? topic_len : 1);
    if (!topic)
        return 0;
    memcpy(topic, data, topic_len);

    struct iotlib_inbound in;
    int rc = iotlib_inbound_parse(topic, topic_len, DEVICE_ID, &in);
    check(rc == 0 || rc == IOTHUB_EPROTOCOL);
    check_span(in.bag, topic, topic_len);
    check_span(in.name, topic, topic_len);
    check_span(in.rid, topic, topic_len);
    if (rc == 0 && in.kind == IOTLIB_INBOUND_METHOD) {
        check_name(in.name);
        check_echoable(in.rid, IOTLIB_RID_MAX);
    }
    if (rc == 0 && in.kind == IOTLIB_INBOUND_TWIN_RESPONSE) {
        check(in.status >= 0 && in.status <= 999);
        check_echoable(in.rid, IOTLIB_RID_MAX);
        uint32_t rid;
        (void)iotlib_rid_to_u32(in.rid, &rid);
    }
    if (rc == 0 && in.kind == IOTLIB_INBOUND_C2D) {
        iothub_message_t *m = NULL;
        int drc =
            iotlib_c2d_message_decode(in.bag.ptr ? in.bag.ptr : "", in.bag.len, body, body_len, &m);
        check(drc == 0 || drc == IOTHUB_EPROTOCOL || drc == IOTHUB_ETOOBIG || drc == IOTHUB_ENOMEM);
        if (drc == 0) {
            const uint8_t *b;
            size_t blen;
            check(iothub_message_get_body(m, &b, &blen) == 0 && blen == body_len);
            check(blen == 0 || memcmp(b, body, blen) == 0);
            check_round_trip(m);
            iothub_message_destroy(m);
        } else {
            check(m == NULL);
        }
    }
    free(topic);
    return 0;
}
