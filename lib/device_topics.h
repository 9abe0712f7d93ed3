/* Parsers of what an IoT hub publishes to a device (spec 2.8-2.10): pure functions over
 * untrusted input. Topics are views (pointer + length, not NUL-terminated) into the MQTT
 * packet; the results point into the same bytes. Internal to libiothub. */
#ifndef IOTHUB_LIB_DEVICE_TOPICS_H
#define IOTHUB_LIB_DEVICE_TOPICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iothub/iothub_message.h"

/* Longest method name and request id we accept (and echo back in a topic). */
#define IOTLIB_METHOD_NAME_MAX 1024
#define IOTLIB_RID_MAX         128

enum iotlib_inbound_kind {
    IOTLIB_INBOUND_UNKNOWN = 0,   /* a topic this client does not handle */
    IOTLIB_INBOUND_C2D,           /* devices/{id}/messages/devicebound/{bag} */
    IOTLIB_INBOUND_METHOD,        /* $iothub/methods/POST/{name}/?$rid={rid} */
    IOTLIB_INBOUND_TWIN_RESPONSE, /* $iothub/twin/res/{status}/?$rid={rid}[&$version={v}] */
    IOTLIB_INBOUND_TWIN_DESIRED,  /* $iothub/twin/PATCH/properties/desired/?$version={v} */
};

struct iotlib_span {
    const char *ptr;
    size_t len;
};

struct iotlib_inbound {
    enum iotlib_inbound_kind kind;
    struct iotlib_span bag;  /* C2D: the property bag, possibly empty */
    struct iotlib_span name; /* METHOD: the method name (1..IOTLIB_METHOD_NAME_MAX bytes) */
    struct iotlib_span rid;  /* METHOD, TWIN_RESPONSE: the request id, to echo verbatim */
    int status;              /* TWIN_RESPONSE: the status code (0..999) */
};

/* Classifies topic (len bytes) for the device device_id (NUL-terminated). Returns 0 with
 * out filled (kind UNKNOWN for a topic outside the four families), or IOTHUB_EPROTOCOL when
 * a topic of a known family is malformed: an empty or over-long method name or request id, a
 * NUL byte in the method name, a
 * request id with characters that cannot be echoed in a topic ('/', '+', '#', '&', space,
 * control bytes), a twin status that is not 1 to 3 decimal digits, a missing $rid. */
int iotlib_inbound_parse(const char *topic, size_t len, const char *device_id,
                         struct iotlib_inbound *out);

/* The request id as an unsigned decimal (the ids this client sends are counters). False
 * when rid is not 1 to 10 digits or exceeds UINT32_MAX. */
bool iotlib_rid_to_u32(struct iotlib_span rid, uint32_t *out);

/* Builds the message a C2D PUBLISH carries: a bytes message with body (len bytes), the
 * system properties from the bag's $.mid, $.cid, $.ct, $.ce, $.uid, $.to, $.exp and
 * iothub-ack (keys and values percent-decoded; a malformed escape is taken literally, as the
 * C SDK sends raw values), and every other key as an application property (the last of
 * duplicate keys wins). Other keys starting with '$', values the message API refuses (not
 * UTF-8, too long) and application properties beyond IOTHUB_MESSAGE_MAX_PROPERTIES are
 * dropped. Returns 0 and a new message in *out that the caller destroys, IOTHUB_EPROTOCOL
 * (an empty key, a NUL byte, more than IOTHUB_MESSAGE_MAX_PROPERTIES + 8 pairs),
 * IOTHUB_ETOOBIG (body over IOTHUB_MESSAGE_MAX_SIZE) or IOTHUB_ENOMEM. */
int iotlib_c2d_message_decode(const char *bag, size_t bag_len, const uint8_t *body, size_t len,
                              iothub_message_t **out);

#endif
