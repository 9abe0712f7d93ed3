/* Direct method invocation over the service REST API (spec 3.6). Placeholder until the
 * methods work lands. */
#include "hub/rest/handlers.h"

void rest_method_invoke(struct rest_request *r)
{
    rest_reply_error(r, ERR_SERVICE_UNAVAILABLE, "direct methods are not served yet");
}
