/* libiothub messages: a body (bytes or a string) plus system and application properties.
 *
 * Ownership: iothub_message_t is an opaque handle. The caller owns every handle it creates
 * (create_* and clone) and must release it with iothub_message_destroy() exactly once.
 * Every setter copies its arguments; every getter returns a pointer into the message that
 * stays valid until the same field is set again, or the message is destroyed. Functions
 * that send a message (iothub_device_client_send_event_async) copy it, so the caller may
 * destroy its handle as soon as the call returns.
 *
 * Thread safety: a message is a plain value. Different messages may be used from
 * different threads at once; one message must not be modified while another thread uses
 * it. Read-only use from several threads at once is safe.
 *
 * Limits (checked when set, IOTHUB_ETOOBIG): at most IOTHUB_MESSAGE_MAX_PROPERTIES
 * application properties; the hub additionally refuses (by closing the connection) a
 * message whose body plus property names and values exceed 256 KiB, which
 * send_event_async checks up front. */
#ifndef IOTHUB_MESSAGE_H
#define IOTHUB_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOTHUB_MESSAGE_MAX_PROPERTIES 128
#define IOTHUB_MESSAGE_MAX_SIZE       (256 * 1024)

typedef struct iothub_message_s iothub_message_t;

/* How the body was given (the Python binding hands str bodies back as str). */
typedef enum {
    IOTHUB_MESSAGE_BYTES = 0,
    IOTHUB_MESSAGE_STRING = 1,
} iothub_message_kind_t;

/* Creates a message with a copy of len bytes of body (body may be NULL when len is 0).
 * Returns 0 and the new handle in *out, or IOTHUB_EINVAL / IOTHUB_ENOMEM (then *out is
 * left unchanged). */
int iothub_message_create_from_bytes(iothub_message_t **out, const void *body, size_t len);

/* Creates a message whose body is a copy of the NUL-terminated string s (without the NUL).
 * Returns 0, IOTHUB_EINVAL or IOTHUB_ENOMEM. */
int iothub_message_create_from_string(iothub_message_t **out, const char *s);

/* A deep copy of msg (body, ids, content type and encoding, properties). */
int iothub_message_clone(iothub_message_t **out, const iothub_message_t *msg);

/* Releases msg and everything it owns. NULL is a no-op. */
void iothub_message_destroy(iothub_message_t *msg);

iothub_message_kind_t iothub_message_get_kind(const iothub_message_t *msg);

/* The body: *body points into msg (valid until msg is destroyed), *len its size. For a
 * string message the body is also NUL-terminated (the NUL not counted in *len). */
int iothub_message_get_body(const iothub_message_t *msg, const uint8_t **body, size_t *len);

/* The body as a NUL-terminated string, or NULL when msg is a bytes message. */
const char *iothub_message_get_string(const iothub_message_t *msg);

/* System properties. Setting NULL clears the field; getters return NULL when unset.
 * Values are copied; they must be non-empty strings without NUL bytes (IOTHUB_EINVAL)
 * and at most 1024 bytes (IOTHUB_ETOOBIG). */
int iothub_message_set_message_id(iothub_message_t *msg, const char *message_id);
const char *iothub_message_get_message_id(const iothub_message_t *msg);
int iothub_message_set_correlation_id(iothub_message_t *msg, const char *correlation_id);
const char *iothub_message_get_correlation_id(const iothub_message_t *msg);
/* Content type, e.g. "application/json" (sent as $.ct). */
int iothub_message_set_content_type(iothub_message_t *msg, const char *content_type);
const char *iothub_message_get_content_type(const iothub_message_t *msg);
/* Content encoding, e.g. "utf-8" (sent as $.ce). */
int iothub_message_set_content_encoding(iothub_message_t *msg, const char *content_encoding);
const char *iothub_message_get_content_encoding(const iothub_message_t *msg);

/* System properties of a received cloud-to-device message (NULL when the hub did not send
 * them; messages created by the application never have them): the user id ($.uid), the
 * destination ("/devices/{id}/messages/deviceBound", $.to), the absolute expiry time as the
 * hub sent it (ISO 8601 UTC, $.exp) and the acknowledgement the sender asked for
 * ("none", "positive", "negative" or "full", iothub-ack). Valid until msg is destroyed. */
const char *iothub_message_get_user_id(const iothub_message_t *msg);
const char *iothub_message_get_to(const iothub_message_t *msg);
const char *iothub_message_get_expiry_time_utc(const iothub_message_t *msg);
const char *iothub_message_get_ack(const iothub_message_t *msg);

/* Application properties (string to string, insertion order kept).
 *
 * add: a new key; IOTHUB_EEXIST when the key is already there (the C SDK's Map_Add).
 * set: adds or replaces (Map_AddOrUpdate).
 * Keys are non-empty and must not start with '$' (reserved for system properties);
 * keys and values must be valid UTF-8 (IOTHUB_EINVAL). More than
 * IOTHUB_MESSAGE_MAX_PROPERTIES keys: IOTHUB_ETOOBIG. */
int iothub_message_property_add(iothub_message_t *msg, const char *key, const char *value);
int iothub_message_property_set(iothub_message_t *msg, const char *key, const char *value);
/* The value of key, or NULL when absent. */
const char *iothub_message_property_get(const iothub_message_t *msg, const char *key);
/* Removes key; IOTHUB_ENOTFOUND when absent. */
int iothub_message_property_remove(iothub_message_t *msg, const char *key);
size_t iothub_message_property_count(const iothub_message_t *msg);
/* The index-th property (0 <= index < count) in insertion order; pointers into msg, valid
 * until the properties change. Returns 0 or IOTHUB_EINVAL (index out of range). */
int iothub_message_property_at(const iothub_message_t *msg, size_t index, const char **key,
                               const char **value);

/* Encodes msg's system and application properties as the MQTT telemetry property bag
 * ("%24.mid=..&%24.cid=..&%24.ct=..&%24.ce=..&key=value", each key and value
 * percent-encoded like encodeURIComponent) into out (cap bytes, NUL-terminated). Returns
 * the length, or IOTHUB_ETOOBIG when cap is too small. An empty bag is "". */
int iothub_message_encode_property_bag(const iothub_message_t *msg, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
