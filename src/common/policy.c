#include "policy.h"

#include <stdio.h>

static const struct {
    unsigned bit;
    const char *name;
} right_names[] = {
    {RIGHT_REGISTRY_READ, "RegistryRead"},
    {RIGHT_REGISTRY_WRITE, "RegistryWrite"},
    {RIGHT_SERVICE_CONNECT, "ServiceConnect"},
    {RIGHT_DEVICE_CONNECT, "DeviceConnect"},
};

const char *policy_rights_format(unsigned rights, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < sizeof(right_names) / sizeof(right_names[0]); i++) {
        if (!(rights & right_names[i].bit))
            continue;
        int n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", right_names[i].name);
        if (n < 0 || (size_t)n >= cap - used)
            break; /* truncated; snprintf left buf terminated */
        used += (size_t)n;
    }
    return buf;
}

bool policy_rights_grant(unsigned have, unsigned need)
{
    if (have & RIGHT_REGISTRY_WRITE)
        have |= RIGHT_REGISTRY_READ;
    return (need & ~have) == 0;
}
