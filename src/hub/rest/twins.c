/* Device twins over the service REST API (spec 3.5). Placeholder until the twin work lands. */
#include "hub/rest/handlers.h"

void rest_twin_get(struct rest_request *r)
{
    rest_reply_error(r, ERR_SERVICE_UNAVAILABLE, "device twins are not served yet");
}

void rest_twin_patch(struct rest_request *r)
{
    rest_reply_error(r, ERR_SERVICE_UNAVAILABLE, "device twins are not served yet");
}

void rest_twin_put(struct rest_request *r)
{
    rest_reply_error(r, ERR_SERVICE_UNAVAILABLE, "device twins are not served yet");
}
