/* libiothub error codes.
 *
 * Every libiothub function that can fail returns an int: 0 (IOTHUB_OK) on success, or a
 * negative IOTHUB_E* code. The codes come from one X-macro list, IOTHUB_ERRNO_MAP, which
 * also produces iothub_strerror() and iothub_err_name(), so every code has a stable name and
 * a human message (the libuv pattern). Codes are stable across releases: new ones are only
 * ever appended.
 *
 * Rule (as in libuv): when a function that takes a callback returns an error, that callback
 * is never called for that request.
 *
 * Thread safety: everything in this header is thread-safe and allocation-free. */
#ifndef IOTHUB_ERROR_H
#define IOTHUB_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* XX(NAME, value, "message"). Append only; never renumber. */
#define IOTHUB_ERRNO_MAP(XX)                                                                       \
    XX(EINVAL, -1, "invalid argument")                                                             \
    XX(ENOMEM, -2, "out of memory")                                                                \
    XX(ECONNSTR, -3, "malformed connection string")                                                \
    XX(ENOTSUP, -4, "not supported by this hub version yet")                                       \
    XX(ETRANSPORT, -5, "transport not supported yet (only MQTT is implemented)")                   \
    XX(EOPTION, -6, "unknown option")                                                              \
    XX(EOPTVALUE, -7, "invalid value for option")                                                  \
    XX(EKEY, -8, "invalid key (not base64)")                                                       \
    XX(ETLS, -9, "TLS error (handshake or certificate verification failed)")                       \
    XX(ENETWORK, -10, "network error")                                                             \
    XX(EAUTH, -11, "authentication failed (unauthorized)")                                         \
    XX(ENOTFOUND, -12, "not found")                                                                \
    XX(EEXIST, -13, "already exists")                                                              \
    XX(EPRECONDITION, -14, "precondition failed (etag mismatch)")                                  \
    XX(ETHROTTLED, -15, "throttled by the hub")                                                    \
    XX(ESERVER, -16, "the hub answered with an error")                                             \
    XX(EPROTOCOL, -17, "protocol error (unexpected answer from the hub)")                          \
    XX(ETIMEDOUT, -18, "operation timed out")                                                      \
    XX(ETOOBIG, -19, "message or value too large")                                                 \
    XX(ESYSTEM, -20, "system call failed (thread, pipe or socket could not be created)")           \
    XX(EDESTROYING, -21, "the client is being destroyed")                                          \
    XX(ECERT, -22, "invalid certificate or private key")

typedef enum {
    IOTHUB_OK = 0,
#define IOTHUB_ERRNO_GEN_(name, val, msg) IOTHUB_##name = (val),
    IOTHUB_ERRNO_MAP(IOTHUB_ERRNO_GEN_)
#undef IOTHUB_ERRNO_GEN_
} iothub_errno_t;

/* A static message for err ("unknown error" for codes outside the table; "success" for 0).
 * Never NULL; the string must not be freed. */
const char *iothub_strerror(int err);

/* The code's name without the IOTHUB_ prefix ("EINVAL"; "OK" for 0; "UNKNOWN" otherwise).
 * Never NULL; static storage. */
const char *iothub_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif
