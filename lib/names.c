/* Names of the public enum values, spelled as the Python SDK prints them. */
#include "internal.h"

const char *iothub_confirmation_result_name(iothub_confirmation_result_t r)
{
    switch (r) {
    case IOTHUB_CONFIRMATION_OK:
        return "OK";
    case IOTHUB_CONFIRMATION_BECAUSE_DESTROY:
        return "BECAUSE_DESTROY";
    case IOTHUB_CONFIRMATION_MESSAGE_TIMEOUT:
        return "MESSAGE_TIMEOUT";
    case IOTHUB_CONFIRMATION_ERROR:
        return "ERROR";
    }
    return "UNKNOWN";
}

const char *iothub_send_status_name(iothub_send_status_t s)
{
    switch (s) {
    case IOTHUB_SEND_STATUS_IDLE:
        return "IDLE";
    case IOTHUB_SEND_STATUS_BUSY:
        return "BUSY";
    }
    return "UNKNOWN";
}

const char *iothub_transport_name(iothub_transport_t t)
{
    switch (t) {
    case IOTHUB_TRANSPORT_MQTT:
        return "MQTT";
    case IOTHUB_TRANSPORT_HTTP:
        return "HTTP";
    case IOTHUB_TRANSPORT_AMQP:
        return "AMQP";
    }
    return "UNKNOWN";
}

const char *iothub_retry_policy_name(iothub_retry_policy_t p)
{
    switch (p) {
    case IOTHUB_RETRY_NONE:
        return "NONE";
    case IOTHUB_RETRY_IMMEDIATE:
        return "IMMEDIATE";
    case IOTHUB_RETRY_INTERVAL:
        return "INTERVAL";
    case IOTHUB_RETRY_LINEAR_BACKOFF:
        return "LINEAR_BACKOFF";
    case IOTHUB_RETRY_EXPONENTIAL_BACKOFF:
        return "EXPONENTIAL_BACKOFF";
    case IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER:
        return "EXPONENTIAL_BACKOFF_WITH_JITTER";
    case IOTHUB_RETRY_RANDOM:
        return "RANDOM";
    }
    return "UNKNOWN";
}

const char *iothub_connection_status_name(iothub_connection_status_t s)
{
    switch (s) {
    case IOTHUB_CONNECTION_AUTHENTICATED:
        return "AUTHENTICATED";
    case IOTHUB_CONNECTION_UNAUTHENTICATED:
        return "UNAUTHENTICATED";
    }
    return "UNKNOWN";
}

const char *iothub_connection_status_reason_name(iothub_connection_status_reason_t r)
{
    switch (r) {
    case IOTHUB_CONNECTION_OK:
        return "CONNECTION_OK";
    case IOTHUB_CONNECTION_EXPIRED_SAS_TOKEN:
        return "EXPIRED_SAS_TOKEN";
    case IOTHUB_CONNECTION_DEVICE_DISABLED:
        return "DEVICE_DISABLED";
    case IOTHUB_CONNECTION_BAD_CREDENTIAL:
        return "BAD_CREDENTIAL";
    case IOTHUB_CONNECTION_RETRY_EXPIRED:
        return "RETRY_EXPIRED";
    case IOTHUB_CONNECTION_NO_NETWORK:
        return "NO_NETWORK";
    case IOTHUB_CONNECTION_COMMUNICATION_ERROR:
        return "COMMUNICATION_ERROR";
    case IOTHUB_CONNECTION_NO_PING_RESPONSE:
        return "NO_PING_RESPONSE";
    }
    return "UNKNOWN";
}

const char *iothub_disposition_name(iothub_disposition_t d)
{
    switch (d) {
    case IOTHUB_MESSAGE_ACCEPTED:
        return "ACCEPTED";
    case IOTHUB_MESSAGE_REJECTED:
        return "REJECTED";
    case IOTHUB_MESSAGE_ABANDONED:
        return "ABANDONED";
    }
    return "UNKNOWN";
}

const char *iothub_auth_method_name(iothub_auth_method_t m)
{
    switch (m) {
    case IOTHUB_AUTH_SHARED_PRIVATE_KEY:
        return "SHARED_PRIVATE_KEY";
    case IOTHUB_AUTH_X509_THUMBPRINT:
        return "X509_THUMBPRINT";
    case IOTHUB_AUTH_X509_CERTIFICATE_AUTHORITY:
        return "X509_CERTIFICATE_AUTHORITY";
    case IOTHUB_AUTH_NONE:
        return "NONE";
    }
    return "UNKNOWN";
}

const char *iothub_device_connection_state_name(iothub_device_connection_state_t s)
{
    switch (s) {
    case IOTHUB_DEVICE_CONNECTION_STATE_DISCONNECTED:
        return "DISCONNECTED";
    case IOTHUB_DEVICE_CONNECTION_STATE_CONNECTED:
        return "CONNECTED";
    }
    return "UNKNOWN";
}

const char *iothub_device_status_name(iothub_device_status_t s)
{
    switch (s) {
    case IOTHUB_DEVICE_STATUS_ENABLED:
        return "ENABLED";
    case IOTHUB_DEVICE_STATUS_DISABLED:
        return "DISABLED";
    }
    return "UNKNOWN";
}
