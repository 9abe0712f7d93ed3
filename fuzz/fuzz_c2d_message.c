/* libFuzzer target: decoding of a service cloud-to-device message (amqp_c2d_decode, spec
 * 5.3) into what the queue stores: Proton's message decoder, the `to` address with its
 * percent-decoded device id, id rendering, iothub-ack and the application properties
 * encoded as a property bag (spec 2.8).
 *
 * Besides "no crash, no sanitizer report" it checks that
 *  - a refusal always comes with a reason and leaves nothing allocated in the output;
 *  - an accepted message names a valid device id, has a body of at most 64 KiB, ids of
 *    1..128 characters without control bytes, and an ack mode that exists;
 *  - the bag holds only unreserved bytes, '%' escapes, '=' and '&', stays within its limit,
 *    and contains no iothub-ack (that goes to its own field);
 *  - decoding the same bytes again with the reused scratch message gives the same result. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/amqp/c2d_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_id(const char *id)
{
    if (!id)
        return;
    size_t n = strlen(id);
    check(n >= 1 && n <= C2D_ID_MAX);
    for (size_t i = 0; i < n; i++)
        check((unsigned char)id[i] >= 0x20 && id[i] != 0x7f);
}

static void check_bag(const char *bag)
{
    check(bag != NULL);
    check(strlen(bag) <= C2D_PROPERTIES_MAX);
    for (const char *p = bag; *p; p++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '~' || c == '=' || c == '&';
        if (c == '%') {
            check(p[1] && p[2]);
            ok = true;
        }
        check(ok);
    }
    check(strncmp(bag, "iothub-ack=", 11) != 0 && !strstr(bag, "&iothub-ack="));
}

static pn_message_t *scratch;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!scratch)
        scratch = pn_message(); /* reused across inputs, as the link reuses nothing: worst case */
    struct c2d_message a, b;
    char why[512] = "", why2[512] = "";
    enum c2d_decode_result ra =
        amqp_c2d_decode(scratch, (const char *)data, size, &a, why, sizeof(why));
    enum c2d_decode_result rb =
        amqp_c2d_decode(scratch, (const char *)data, size, &b, why2, sizeof(why2));
    check(ra == rb);
    if (ra != C2D_DECODE_OK) {
        check(why[0] != '\0');
        check(!a.message_id && !a.body && !a.app_properties);
        return 0;
    }
    check(device_id_valid(a.device_id));
    check(strcmp(a.device_id, b.device_id) == 0);
    check(a.body != NULL && a.body_len <= C2D_BODY_MAX);
    check(a.body_len == b.body_len && memcmp(a.body, b.body, a.body_len) == 0);
    check_id(a.message_id);
    check_id(a.correlation_id);
    check((unsigned)a.ack <= C2D_ACK_FULL);
    check_bag(a.app_properties);
    check(strcmp(a.app_properties, b.app_properties) == 0);
    c2d_message_free(&a);
    c2d_message_free(&b);
    return 0;
}
