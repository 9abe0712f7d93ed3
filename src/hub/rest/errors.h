/* The hosted service's error vocabulary (spec 3.2): one table gives each code its name,
 * number and HTTP status. */
#ifndef IOTHUB_HUB_REST_ERRORS_H
#define IOTHUB_HUB_REST_ERRORS_H

#define HUB_ERRORS(X)                                                                              \
    X(ERR_ARGUMENT_INVALID, "ArgumentInvalid", 400004, 400)                                        \
    X(ERR_ARGUMENT_NULL, "ArgumentNull", 400005, 400)                                              \
    X(ERR_FORMAT, "IotHubFormatError", 400006, 400)                                                \
    X(ERR_UNAUTHORIZED_ACCESS, "IotHubUnauthorizedAccess", 401002, 401)                            \
    X(ERR_UNAUTHORIZED, "IotHubUnauthorized", 401003, 401)                                         \
    X(ERR_QUEUE_DEPTH_EXCEEDED, "DeviceMaximumQueueDepthExceeded", 403004, 403)                    \
    X(ERR_DEVICE_NOT_FOUND, "DeviceNotFound", 404001, 404)                                         \
    X(ERR_DEVICE_NOT_ONLINE, "DeviceNotOnline", 404103, 404)                                       \
    X(ERR_NOT_FOUND, "NotFound", 404000, 404)                                                      \
    X(ERR_METHOD_NOT_ALLOWED, "MethodNotAllowed", 405000, 405)                                     \
    X(ERR_DEVICE_ALREADY_EXISTS, "DeviceAlreadyExists", 409001, 409)                               \
    X(ERR_CONSUMER_GROUP_ALREADY_EXISTS, "ConsumerGroupAlreadyExists", 409010, 409)                \
    X(ERR_PRECONDITION_FAILED, "PreconditionFailed", 412001, 412)                                  \
    X(ERR_MESSAGE_TOO_LARGE, "MessageTooLarge", 413001, 413)                                       \
    X(ERR_THROTTLED, "ThrottlingException", 429001, 429)                                           \
    X(ERR_SERVER, "ServerError", 500001, 500)                                                      \
    X(ERR_BAD_DEVICE_RESPONSE, "InvalidResponseWhileProxying", 502001, 502)                        \
    X(ERR_SERVICE_UNAVAILABLE, "ServiceUnavailable", 503001, 503)                                  \
    X(ERR_GATEWAY_TIMEOUT, "GatewayTimeout", 504101, 504)

enum hub_error {
#define X(id, name, number, status) id,
    HUB_ERRORS(X)
#undef X
};

const char *hub_error_name(enum hub_error e);
int hub_error_number(enum hub_error e);
int hub_error_http_status(enum hub_error e);

#endif
