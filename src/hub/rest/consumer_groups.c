/* Consumer groups of the Event Hubs-compatible endpoint: /eventhub/consumergroups[/{name}].
 * Our own extension: the hosted service manages consumer groups through Azure Resource
 * Manager, which the hub does not emulate. Bodies are {"name": "..."}; a request body on
 * PUT is ignored (there is nothing else to set). */
#include <stdlib.h>
#include <strings.h>

#include "hub/hub.h"
#include "hub/rest/handlers.h"

#define NAME_RULE "Consumer group names are 1 to 50 letters, digits, '.', '_' or '-' (or $Default)"

static void reply_storage(struct rest_request *r, int rc)
{
    rest_reply_error(r, ERR_SERVICE_UNAVAILABLE,
                     "The registry could not store the change (%s), nothing was changed. "
                     "Check the hub's disk and retry",
                     registry_strerror(rc));
}

void rest_consumer_groups_list(struct rest_request *r)
{
    char(*names)[CONSUMER_GROUP_NAME_MAX + 1] = NULL;
    size_t count = 0;
    int rc = registry_consumer_group_list(r->hub->registry, &names, &count);
    if (rc != REG_OK) {
        reply_storage(r, rc);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < count; i++)
        if (json_array_append_new(arr, json_pack("{s:s}", "name", names[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(names);
    if (!arr) {
        rest_reply_error(r, ERR_SERVER, "out of memory listing consumer groups");
        return;
    }
    rest_reply_json(r, 200, arr, NULL);
}

void rest_consumer_group_put(struct rest_request *r)
{
    const char *name = r->segments[2];
    int rc = registry_consumer_group_create(r->hub->registry, name);
    switch (rc) {
    case REG_OK:
        break;
    case REG_EXISTS:
        rest_reply_error(r, ERR_CONSUMER_GROUP_ALREADY_EXISTS,
                         "A consumer group named '%s' already exists.", name);
        return;
    case REG_INVALID:
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "Invalid consumer group name: " NAME_RULE);
        return;
    default:
        reply_storage(r, rc);
        return;
    }
    char canonical[CONSUMER_GROUP_NAME_MAX + 1];
    /* A delete racing this request may have removed it again: report the name as asked. */
    if (registry_consumer_group_get(r->hub->registry, name, canonical, sizeof(canonical)) != REG_OK)
        rest_reply_json(r, 200, json_pack("{s:s}", "name", name), NULL);
    else
        rest_reply_json(r, 200, json_pack("{s:s}", "name", canonical), NULL);
}

void rest_consumer_group_delete(struct rest_request *r)
{
    const char *name = r->segments[2];
    if (strcasecmp(name, "$Default") == 0) {
        rest_reply_error(r, ERR_ARGUMENT_INVALID,
                         "The consumer group $Default always exists and cannot be deleted");
        return;
    }
    int rc = registry_consumer_group_delete(r->hub->registry, name);
    switch (rc) {
    case REG_OK:
        rest_reply_no_content(r);
        break;
    case REG_NOT_FOUND:
        rest_reply_error(r, ERR_NOT_FOUND, "No consumer group named '%s'", name);
        break;
    case REG_INVALID:
        rest_reply_error(r, ERR_ARGUMENT_INVALID, "Invalid consumer group name: " NAME_RULE);
        break;
    default:
        reply_storage(r, rc);
        break;
    }
}
