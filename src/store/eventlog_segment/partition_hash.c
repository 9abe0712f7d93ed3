/* The partition of a device: FNV-1a (32-bit) of the device id's bytes, modulo the
 * partition count. FNV-1a is fixed by its spec (offset basis 2166136261, prime 16777619),
 * so the mapping is the same on every run and machine; it is part of the on-disk contract
 * (a device's messages stay in one partition, in order) and must never change. */
#include "internal.h"

uint32_t eventlog_fnv1a32(const char *data, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)data[i];
        h *= 16777619u;
    }
    return h;
}

uint32_t eventlog_partition_for(const struct eventlog *log, const char *device_id, size_t len)
{
    return eventlog_fnv1a32(device_id, len) % log->nparts;
}
