#include "hub/hub.h"

#include <stdio.h>
#include <strings.h>

bool hub_is_own_host(const struct hub *hub, const char *name)
{
    for (size_t i = 0; i < hub->name_count; i++)
        if (strcasecmp(hub->names[i], name) == 0)
            return true;
    return false;
}

int hub_print_connection_string(const struct hub *hub, const char *policy_name)
{
    struct policy pol;
    if (registry_get_policy(hub->registry, policy_name, &pol) != REG_OK) {
        fprintf(stderr, "iothubd: no shared access policy named '%s' in this hub\n", policy_name);
        return -1;
    }
    printf("HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s\n", hub->hostname, pol.name,
           pol.primary_key);
    return 0;
}
