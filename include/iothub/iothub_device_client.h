/* libiothub device client: a device's connection to an IoT hub (iothubd or compatible).
 *
 * Two flavours share one engine:
 *
 *   iothub_device_client_ll_*  do-work mode, no threads. The caller calls
 *                              iothub_device_client_ll_do_work() from its own loop (every
 *                              few to 100 ms, or when the descriptor from
 *                              iothub_device_client_ll_get_poll() is ready). All network I/O
 *                              and every callback happens inside do_work (and the
 *                              BECAUSE_DESTROY confirmations inside destroy).
 *   iothub_device_client_*     threaded mode. Each client owns one worker thread that runs
 *                              the engine; callbacks run on that worker thread.
 *
 * Ownership: a client handle is created by one of the *_create_* functions and belongs to
 * the caller, who must destroy it exactly once. Messages handed to send_event_async are
 * copied; the caller keeps ownership of its own message. Strings passed to create and
 * set_option are copied. Every user context pointer is passed back untouched and never
 * freed by the library.
 *
 * Thread rules:
 *   - ll handles are not thread-safe: use each from one thread at a time (any thread, but
 *     never concurrently); never call ll_do_work or ll_destroy from inside one of its
 *     callbacks. Other ll functions (send_event_async, get_send_status, set_option...) may
 *     be called from its callbacks.
 *   - threaded handles are thread-safe: every function may be called from any thread,
 *     including from the client's own callbacks (destroy included: when called from a
 *     callback, the worker finishes the destruction after the callback returns).
 *     Callbacks run on the worker thread without any library lock held, one at a time, in
 *     the order the events happened. A binding with its own global lock (e.g. Python's
 *     GIL) must release it while it calls iothub_device_client_destroy(), because destroy
 *     waits for the worker, whose callbacks may need that lock.
 *   - BECAUSE_DESTROY confirmations of a threaded client run on the thread that calls
 *     destroy (or on the worker when destroy was called from a callback), before destroy
 *     returns.
 *
 * Delivery guarantee for telemetry: every message accepted by send_event_async (return 0)
 * ends in exactly one confirmation callback: OK (the hub acknowledged it: PUBACK, which
 * iothubd sends once the message is on disk), MESSAGE_TIMEOUT (not acknowledged within
 * "messageTimeout"), ERROR (it can never be sent: e.g. the retry policy gave up, or the
 * hub refused the credentials) or BECAUSE_DESTROY (still pending when the client was
 * destroyed). After a connection loss the client reconnects following its retry policy
 * and sends every unacknowledged message again (at-least-once: the hub may store a
 * message twice when the loss happened after it stored it but before the PUBACK
 * arrived).
 *
 * Connection: MQTT 3.1.1 over TLS to port 8883 of HostName (TLS 1.2+, the server
 * certificate is verified against "TrustedCerts" or the system store, and against
 * HostName). The client connects lazily: once it has something to do (a message or a
 * reported state to send, or a message, method or twin callback set). SAS tokens are
 * renewed by reconnecting at 80 % of "sas_token_lifetime".
 *
 * Cloud-to-device features (MQTT topics in docs/libiothub.md):
 *   - message callback: C2D messages. ACCEPTED and REJECTED acknowledge the message (PUBACK;
 *     MQTT has no reject, so the hub completes a rejected message as well), ABANDONED does
 *     not, so the hub delivers it again on the next connection. This is what the C SDK
 *     does over MQTT.
 *   - method callback: direct methods; its status and response go back to the hub.
 *   - twin callback: after every connection the whole twin (COMPLETE), then each change of
 *     the desired properties (PARTIAL; never before the first COMPLETE).
 *   - send_reported_state: a reported-properties patch; its callback gets the hub's status
 *     (204 success, 400 bad patch, 429, 5xx), 408 when no answer came within 300 s or the
 *     client was destroyed first, or 500 when the client gave up connecting (retry policy).
 *     A patch sent on a connection that broke before the answer is sent again on the next
 *     one (applying a merge patch twice gives the same document).
 *   Subscriptions are made when a callback is set (and again after every reconnect);
 *   setting a callback to NULL unsubscribes. */
#ifndef IOTHUB_DEVICE_CLIENT_H
#define IOTHUB_DEVICE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iothub_message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iothub_device_client_ll_s iothub_device_client_ll_t;
typedef struct iothub_device_client_s iothub_device_client_t;

/* Transports. Only MQTT is implemented; the others make create return
 * IOTHUB_ETRANSPORT. */
typedef enum {
    IOTHUB_TRANSPORT_MQTT = 1,
    IOTHUB_TRANSPORT_HTTP = 2,
    IOTHUB_TRANSPORT_AMQP = 3,
} iothub_transport_t;

/* Result of one send_event_async request (the C SDK's IOTHUB_CLIENT_CONFIRMATION_RESULT,
 * same order). */
typedef enum {
    IOTHUB_CONFIRMATION_OK = 0,
    IOTHUB_CONFIRMATION_BECAUSE_DESTROY = 1,
    IOTHUB_CONFIRMATION_MESSAGE_TIMEOUT = 2,
    IOTHUB_CONFIRMATION_ERROR = 3,
} iothub_confirmation_result_t;

/* IDLE: no message waiting for its confirmation; BUSY: at least one. */
typedef enum {
    IOTHUB_SEND_STATUS_IDLE = 0,
    IOTHUB_SEND_STATUS_BUSY = 1,
} iothub_send_status_t;

typedef enum {
    IOTHUB_CONNECTION_AUTHENTICATED = 0,
    IOTHUB_CONNECTION_UNAUTHENTICATED = 1,
} iothub_connection_status_t;

/* Why the status changed (the C SDK's IOTHUB_CLIENT_CONNECTION_STATUS_REASON). */
typedef enum {
    IOTHUB_CONNECTION_OK = 0,                  /* connected and authenticated */
    IOTHUB_CONNECTION_EXPIRED_SAS_TOKEN = 1,   /* token expired or is being renewed */
    IOTHUB_CONNECTION_DEVICE_DISABLED = 2,     /* CONNACK 5 with a SharedAccessSignature */
    IOTHUB_CONNECTION_BAD_CREDENTIAL = 3,      /* CONNACK 4 or 5: key, id or cert refused */
    IOTHUB_CONNECTION_RETRY_EXPIRED = 4,       /* the retry policy's time limit passed */
    IOTHUB_CONNECTION_NO_NETWORK = 5,          /* connect or TLS failed */
    IOTHUB_CONNECTION_COMMUNICATION_ERROR = 6, /* established connection lost */
    IOTHUB_CONNECTION_NO_PING_RESPONSE = 7,    /* keep-alive PINGRESP missing */
} iothub_connection_status_reason_t;

/* Retry policies for reconnecting (the C SDK's IOTHUB_CLIENT_RETRY_POLICY, same order).
 * Delays for the n-th consecutive failed attempt (n = 1, 2, ...):
 *   NONE                        no reconnect: pending messages end with ERROR
 *   IMMEDIATE                   0 s
 *   INTERVAL                    5 s
 *   LINEAR_BACKOFF              5 s * n
 *   EXPONENTIAL_BACKOFF         min(2^(n-1) s, 60 s)
 *   EXPONENTIAL_BACKOFF_WITH_JITTER (default)
 *                               min(2^(n-1) s, 60 s) * (1 + r), r uniform in [0, 0.2]
 *   RANDOM                      uniform in [0 s, 5 s]
 * The first reconnect after losing an established connection is attempted at once. */
typedef enum {
    IOTHUB_RETRY_NONE = 0,
    IOTHUB_RETRY_IMMEDIATE = 1,
    IOTHUB_RETRY_INTERVAL = 2,
    IOTHUB_RETRY_LINEAR_BACKOFF = 3,
    IOTHUB_RETRY_EXPONENTIAL_BACKOFF = 4,
    IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER = 5,
    IOTHUB_RETRY_RANDOM = 6,
} iothub_retry_policy_t;

/* Disposition a C2D message callback returns. */
typedef enum {
    IOTHUB_MESSAGE_ACCEPTED = 0,
    IOTHUB_MESSAGE_REJECTED = 1,
    IOTHUB_MESSAGE_ABANDONED = 2,
} iothub_disposition_t;

/* Twin callback: the whole twin (COMPLETE, after connecting) or a desired patch (PARTIAL). */
typedef enum {
    IOTHUB_TWIN_UPDATE_COMPLETE = 0,
    IOTHUB_TWIN_UPDATE_PARTIAL = 1,
} iothub_twin_update_state_t;

/* Called once per accepted message. */
typedef void (*iothub_send_confirmation_cb)(iothub_confirmation_result_t result, void *ctx);

typedef void (*iothub_connection_status_cb)(iothub_connection_status_t status,
                                            iothub_connection_status_reason_t reason, void *ctx);

/* A cloud-to-device message. msg is lent for the duration of the call (clone it to keep
 * it); it is a bytes message with the hub's system properties (message id, correlation id,
 * content type and encoding, user id, to, expiry, ack) and application properties. */
typedef iothub_disposition_t (*iothub_c2d_message_cb)(const iothub_message_t *msg, void *ctx);

/* A direct method call. payload (size bytes, JSON text, not NUL-terminated; empty when the
 * caller sent no payload) is lent for the call. The callback stores a malloc()ed JSON
 * response in *response (size in *response_size; may stay NULL/0 for an empty response,
 * which the service sees as a null payload), which the library frees with free(), and
 * returns the method's status code (e.g. 200). */
typedef int (*iothub_device_method_cb)(const char *method_name, const uint8_t *payload, size_t size,
                                       uint8_t **response, size_t *response_size, void *ctx);

/* The twin (COMPLETE: {"desired":..,"reported":..}) or a desired patch (PARTIAL), JSON
 * text lent for the call. */
typedef void (*iothub_twin_cb)(iothub_twin_update_state_t state, const uint8_t *payload,
                               size_t size, void *ctx);

/* The hub's answer to send_reported_state: the HTTP-like status (204 success). */
typedef void (*iothub_reported_state_cb)(int status_code, void *ctx);

/* ---- Options (set_option) ------------------------------------------------------------
 * Names follow the C SDK. set_option takes a pointer to a value of the listed type; the
 * _int and _string variants take the value itself (for bindings). Unknown name:
 * IOTHUB_EOPTION; bad value or type: IOTHUB_EOPTVALUE. Options may be set at any time;
 * connection options (keepalive, TrustedCerts, sas_token_lifetime, x509*) apply from the
 * next connection.
 *
 *   name                  set_option type   _int/_string  default   meaning
 *   "messageTimeout"      const uint64_t *  int (ms)      0 (none)  confirm MESSAGE_TIMEOUT
 *                                                                   when no PUBACK within it
 *   "keepalive"           const int *       int (s)       240       MQTT keep-alive (0..65535)
 *   "logtrace"            const bool *      int (0/1)     false     trace MQTT packets to
 *                                                                   stderr (never keys or
 *                                                                   tokens)
 *   "TrustedCerts"        const char *      string        system    PEM CA certificate(s)
 *                                                         store     to verify the hub with
 *   "sas_token_lifetime"  const size_t *    int (s)       3600      SAS token validity;
 *                                                                   renewed at 80 %
 *   "x509certificate"     const char *      string        none      PEM client certificate
 *   "x509privatekey"      const char *      string        none      PEM private key
 *   "retry_timeout"       const size_t *    int (s)       0         as set_retry_policy's
 *                                                                   limit (0: retry forever)
 *   "model_id"            const char *      string        none      IoT Plug and Play model
 *                                                                   id (up to 4096 chars),
 *                                                                   sent in the next CONNECT;
 *                                                                   the hub puts it on the
 *                                                                   twin (modelId) and on
 *                                                                   telemetry (dt-dataschema)
 */
#define IOTHUB_OPTION_MESSAGE_TIMEOUT    "messageTimeout"
#define IOTHUB_OPTION_KEEP_ALIVE         "keepalive"
#define IOTHUB_OPTION_LOG_TRACE          "logtrace"
#define IOTHUB_OPTION_TRUSTED_CERT       "TrustedCerts"
#define IOTHUB_OPTION_SAS_TOKEN_LIFETIME "sas_token_lifetime"
#define IOTHUB_OPTION_X509_CERT          "x509certificate"
#define IOTHUB_OPTION_X509_PRIVATE_KEY   "x509privatekey"
#define IOTHUB_OPTION_RETRY_TIMEOUT      "retry_timeout"
#define IOTHUB_OPTION_MODEL_ID           "model_id"

/* ===================================== do-work mode ===================================== */

/* From a device connection string: HostName=..;DeviceId=..; plus exactly one of
 * SharedAccessKey=.. (tokens are made and renewed by the client), SharedAccessSignature=..
 * (used as is; not renewable: when the hub closes the connection at its expiry the client
 * reports EXPIRED_SAS_TOKEN) or x509=true (then set "x509certificate" and
 * "x509privatekey" before the first send). ModuleId and GatewayHostName are refused
 * (IOTHUB_ECONNSTR) for now. Returns 0 and the handle in *out, IOTHUB_ECONNSTR,
 * IOTHUB_EKEY (key not base64), IOTHUB_ETRANSPORT (HTTP, AMQP), IOTHUB_EINVAL or
 * IOTHUB_ENOMEM. No network I/O happens here. */
int iothub_device_client_ll_create_from_connection_string(iothub_device_client_ll_t **out,
                                                          const char *connection_string,
                                                          iothub_transport_t transport);

/* From parts: host name, device id, and the device's base64 key (symmetric key auth). */
int iothub_device_client_ll_create_with_key(iothub_device_client_ll_t **out, const char *host,
                                            const char *device_id, const char *key_b64,
                                            iothub_transport_t transport);

/* Closes the connection (sending DISCONNECT when connected), calls every pending
 * confirmation with BECAUSE_DESTROY, and frees the handle. NULL is a no-op. */
void iothub_device_client_ll_destroy(iothub_device_client_ll_t *client);

int iothub_device_client_ll_set_option(iothub_device_client_ll_t *client, const char *name,
                                       const void *value);
int iothub_device_client_ll_set_option_int(iothub_device_client_ll_t *client, const char *name,
                                           int64_t value);
int iothub_device_client_ll_set_option_string(iothub_device_client_ll_t *client, const char *name,
                                              const char *value);

/* Retry policy and the total time (seconds, 0 = forever) the client keeps trying to
 * reconnect before it gives up (pending messages then end with ERROR and the status
 * callback gets UNAUTHENTICATED/RETRY_EXPIRED). Default: EXPONENTIAL_BACKOFF_WITH_JITTER,
 * 0. */
int iothub_device_client_ll_set_retry_policy(iothub_device_client_ll_t *client,
                                             iothub_retry_policy_t policy,
                                             size_t retry_timeout_limit_s);
int iothub_device_client_ll_get_retry_policy(iothub_device_client_ll_t *client,
                                             iothub_retry_policy_t *policy,
                                             size_t *retry_timeout_limit_s);

/* Queues a copy of msg for QoS 1 telemetry and returns; the confirmation callback (may be
 * NULL) runs later from do_work. Returns 0, IOTHUB_EINVAL, IOTHUB_ETOOBIG (over 256 KiB) or
 * IOTHUB_ENOMEM. After the retry policy gave up (or the hub refused the credentials),
 * a new send starts a new series of connection attempts. */
int iothub_device_client_ll_send_event_async(iothub_device_client_ll_t *client,
                                             const iothub_message_t *msg,
                                             iothub_send_confirmation_cb callback, void *ctx);

int iothub_device_client_ll_get_send_status(iothub_device_client_ll_t *client,
                                            iothub_send_status_t *status);

/* Called from do_work on every change (NULL callback: none). */
int iothub_device_client_ll_set_connection_status_callback(iothub_device_client_ll_t *client,
                                                           iothub_connection_status_cb callback,
                                                           void *ctx);

/* Set (or, with NULL, clear) the callbacks for C2D messages, direct methods and the twin
 * (see the top of this file). Each replaces the previous one; ctx is passed back
 * untouched. Returns 0 or IOTHUB_EINVAL. Callbacks run inside do_work. */
int iothub_device_client_ll_set_message_callback(iothub_device_client_ll_t *client,
                                                 iothub_c2d_message_cb callback, void *ctx);
int iothub_device_client_ll_set_device_method_callback(iothub_device_client_ll_t *client,
                                                       iothub_device_method_cb callback, void *ctx);
int iothub_device_client_ll_set_device_twin_callback(iothub_device_client_ll_t *client,
                                                     iothub_twin_cb callback, void *ctx);
/* Queues a reported-properties patch: reported_state is JSON object text (size bytes,
 * copied; null members delete). callback (may be NULL) runs once with the status (see the
 * top of this file). Returns 0, IOTHUB_EINVAL (not a JSON object), IOTHUB_ETOOBIG (over
 * 256 KiB; the hub itself allows 32 KiB of reported properties) or IOTHUB_ENOMEM. */
int iothub_device_client_ll_send_reported_state(iothub_device_client_ll_t *client,
                                                const uint8_t *reported_state, size_t size,
                                                iothub_reported_state_cb callback, void *ctx);

/* Runs the engine without blocking: connects or reconnects when due, sends queued
 * messages, reads acknowledgements, times messages out, sends keep-alive pings and runs
 * the callbacks. Call it regularly (at least every 100 ms while messages are pending, or
 * when get_poll says so). */
void iothub_device_client_ll_do_work(iothub_device_client_ll_t *client);

/* For event loops: the socket to watch (*fd, -1 when there is none right now), whether to
 * watch it for writing as well as reading (*want_write), and the longest the caller may
 * wait before the next do_work (*timeout_ms, -1 = until the socket is ready). Valid until
 * the next call into the client. */
int iothub_device_client_ll_get_poll(iothub_device_client_ll_t *client, int *fd, bool *want_write,
                                     int *timeout_ms);

/* ===================================== threaded mode ===================================== */
/* The same functions with the same rules and results, for a client that runs its own worker
 * thread. create starts the thread (IOTHUB_ESYSTEM when it cannot). */

int iothub_device_client_create_from_connection_string(iothub_device_client_t **out,
                                                       const char *connection_string,
                                                       iothub_transport_t transport);
int iothub_device_client_create_with_key(iothub_device_client_t **out, const char *host,
                                         const char *device_id, const char *key_b64,
                                         iothub_transport_t transport);
/* Stops and joins the worker (or, from a callback, lets it finish), disconnects, runs
 * BECAUSE_DESTROY confirmations (and 408 for pending reported states) and frees the handle.
 * Once destroy was called no C2D, method or twin callback starts: a C2D message is left
 * unacknowledged (the hub offers it again), a method call is answered 503. NULL is a
 * no-op. */
void iothub_device_client_destroy(iothub_device_client_t *client);

int iothub_device_client_set_option(iothub_device_client_t *client, const char *name,
                                    const void *value);
int iothub_device_client_set_option_int(iothub_device_client_t *client, const char *name,
                                        int64_t value);
int iothub_device_client_set_option_string(iothub_device_client_t *client, const char *name,
                                           const char *value);
int iothub_device_client_set_retry_policy(iothub_device_client_t *client,
                                          iothub_retry_policy_t policy,
                                          size_t retry_timeout_limit_s);
int iothub_device_client_get_retry_policy(iothub_device_client_t *client,
                                          iothub_retry_policy_t *policy,
                                          size_t *retry_timeout_limit_s);
int iothub_device_client_send_event_async(iothub_device_client_t *client,
                                          const iothub_message_t *msg,
                                          iothub_send_confirmation_cb callback, void *ctx);
int iothub_device_client_get_send_status(iothub_device_client_t *client,
                                         iothub_send_status_t *status);
int iothub_device_client_set_connection_status_callback(iothub_device_client_t *client,
                                                        iothub_connection_status_cb callback,
                                                        void *ctx);
int iothub_device_client_set_message_callback(iothub_device_client_t *client,
                                              iothub_c2d_message_cb callback, void *ctx);
int iothub_device_client_set_device_method_callback(iothub_device_client_t *client,
                                                    iothub_device_method_cb callback, void *ctx);
int iothub_device_client_set_device_twin_callback(iothub_device_client_t *client,
                                                  iothub_twin_cb callback, void *ctx);
int iothub_device_client_send_reported_state(iothub_device_client_t *client,
                                             const uint8_t *reported_state, size_t size,
                                             iothub_reported_state_cb callback, void *ctx);

/* ======================================== names ======================================== */
/* Static names of enum values as the Python SDK prints them ("OK", "MESSAGE_TIMEOUT",
 * "IDLE", "MQTT", "EXPONENTIAL_BACKOFF_WITH_JITTER", "AUTHENTICATED", "ACCEPTED"...), or
 * "UNKNOWN". Never NULL; thread-safe. */
const char *iothub_confirmation_result_name(iothub_confirmation_result_t r);
const char *iothub_send_status_name(iothub_send_status_t s);
const char *iothub_transport_name(iothub_transport_t t);
const char *iothub_retry_policy_name(iothub_retry_policy_t p);
const char *iothub_connection_status_name(iothub_connection_status_t s);
const char *iothub_connection_status_reason_name(iothub_connection_status_reason_t r);
const char *iothub_disposition_name(iothub_disposition_t d);

#ifdef __cplusplus
}
#endif

#endif
