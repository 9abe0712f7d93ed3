/* Shared access policies (spec 1.7). */
#ifndef IOTHUB_COMMON_POLICY_H
#define IOTHUB_COMMON_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "device.h"

#define POLICY_NAME_MAX 64

enum policy_right {
    RIGHT_REGISTRY_READ = 1 << 0,
    RIGHT_REGISTRY_WRITE = 1 << 1,
    RIGHT_SERVICE_CONNECT = 1 << 2,
    RIGHT_DEVICE_CONNECT = 1 << 3,
};

struct policy {
    char name[POLICY_NAME_MAX + 1];
    char primary_key[DEVICE_KEY_MAX + 1];
    char secondary_key[DEVICE_KEY_MAX + 1];
    unsigned rights; /* enum policy_right bits */
};

/* Writes "RegistryRead, RegistryWrite, ..." into buf. Returns buf. */
const char *policy_rights_format(unsigned rights, char *buf, size_t cap);

/* True when `have` grants `need`. RegistryWrite implies RegistryRead. */
bool policy_rights_grant(unsigned have, unsigned need);

#endif
