/* The direct-method topics of the IoT Hub MQTT topic space (spec 2.9), as pure functions
 * (no I/O, no allocation) so that they can be unit-tested and fuzzed:
 *
 *   hub -> device   $iothub/methods/POST/{methodName}/?$rid={rid}
 *   device -> hub   $iothub/methods/res/{status}/?$rid={rid}
 */
#ifndef IOTHUB_HUB_MQTT_METHOD_TOPIC_H
#define IOTHUB_HUB_MQTT_METHOD_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define METHOD_NAME_MAX 128 /* characters */
#define METHOD_RID_MAX  64  /* characters of a $rid value */

/* True when name[0..len) may be a method name: 1 to METHOD_NAME_MAX printable ASCII
 * characters (0x21..0x7e) other than / ? # + " and \. The name is sent raw in a topic
 * level: '/' would split it, '#' and '+' are MQTT wildcards, '?' starts the query the C
 * SDK reads the $rid from. */
bool method_name_valid(const char *name, size_t len);

/* True when rid[0..len) is a valid $rid value: 1 to METHOD_RID_MAX of [0-9A-Za-z-]. */
bool method_rid_valid(const char *rid, size_t len);

/* Writes "$iothub/methods/POST/{name}/?$rid={rid}" (not NUL-terminated) into out. Returns
 * its length, or 0 when name or rid is not valid or cap is too small. $rid is the only
 * query parameter: the C SDK takes everything after "?$rid=" as the request id. */
size_t method_topic_request(char *out, size_t cap, const char *name, size_t name_len,
                            const char *rid, size_t rid_len);

/* A device's method response topic, "$iothub/methods/res/{status}/?$rid={rid}", taken
 * apart. Other query parameters around $rid are allowed and ignored. */
struct method_response_topic {
    int status;      /* decimal, optional '-', within int32 */
    const char *rid; /* points into the topic, not NUL-terminated */
    size_t rid_len;
};

/* Returns true and fills *out when topic[0..len) is a well-formed response topic whose
 * $rid is valid (method_rid_valid); false otherwise (*out is then unspecified). */
bool method_topic_parse_response(const char *topic, size_t len, struct method_response_topic *out);

#endif
