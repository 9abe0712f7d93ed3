/* libFuzzer target: direct-method topics (hub/mqtt/method_topic.h), the response topic a
 * device publishes ($iothub/methods/res/{status}/?$rid={rid}) being untrusted input.
 *
 * Besides "no crash, no sanitizer report" it checks that
 *  - an accepted topic has the response prefix, a rid inside the topic that
 *    method_rid_valid accepts, and a status whose decimal text appears right after the
 *    prefix followed by "/?";
 *  - the input used as a method name and rid builds a request topic only when both are
 *    valid, of exactly the announced length, that starts with the request prefix. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/mqtt/method_topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    /* An exact-size heap copy, so that ASan sees any read past the end. */
    char *topic = malloc(size ? size : 1);
    check(topic != NULL);
    memcpy(topic, data, size);

    static const char prefix[] = "$iothub/methods/res/";
    struct method_response_topic t;
    if (method_topic_parse_response(topic, size, &t)) {
        check(size > sizeof(prefix) - 1 && memcmp(topic, prefix, sizeof(prefix) - 1) == 0);
        check(t.rid >= topic && t.rid + t.rid_len <= topic + size);
        check(method_rid_valid(t.rid, t.rid_len));
        char status[16];
        int n = snprintf(status, sizeof(status), "%d/?", t.status);
        const char *at = topic + sizeof(prefix) - 1;
        /* "-0" and leading zeros parse too; compare the value, not the spelling. */
        if (at[0] != '0' && !(at[0] == '-' && at[1] == '0'))
            check((size_t)n <= size - (sizeof(prefix) - 1) && memcmp(at, status, (size_t)n) == 0);
    }

    /* First half as a method name, second half as a rid. */
    size_t half = size / 2;
    char out[512];
    size_t len = method_topic_request(out, sizeof(out), topic, half, topic + half, size - half);
    bool valid = method_name_valid(topic, half) && method_rid_valid(topic + half, size - half);
    if (len) {
        check(valid);
        check(len == strlen("$iothub/methods/POST/") + half + strlen("/?$rid=") + size - half);
        check(memcmp(out, "$iothub/methods/POST/", 21) == 0);
    } else {
        check(!valid || 28 + size > sizeof(out));
    }
    free(topic);
    return 0;
}
