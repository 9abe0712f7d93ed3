/* What a device's telemetry bucket held when its connection closed, kept until it would
 * have refilled, so that a device over --throttle-d2c-per-device cannot start over with a
 * full bucket by reconnecting.
 *
 * The per-device bucket lives on the connection (one thread, no lock per message); this
 * table is touched only when a connection closes and at a connection's first message. An
 * entry exists only while its TAT is ahead of the clock, which a pause bounds
 * (THROTTLE_WAIT_MAX_MS), so the table holds the devices that left while over their rate in
 * the last seconds. At max_entries it stops remembering (a device then gets a full bucket:
 * the old behaviour). */
#ifndef IOTHUB_HUB_THROTTLE_MEMORY_H
#define IOTHUB_HUB_THROTTLE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

struct throttle_memory;

struct throttle_memory *throttle_memory_new(size_t max_entries);
void throttle_memory_free(struct throttle_memory *m);
/* Remembers device_id's TAT when it is still ahead of now_ns; forgets the device otherwise.
 * Any thread. */
void throttle_memory_save(struct throttle_memory *m, const char *device_id, int64_t tat_ns,
                          int64_t now_ns);
/* The TAT remembered for device_id, forgotten by this call; 0 when there is none or it is no
 * longer ahead of now_ns (a full bucket). Any thread. */
int64_t throttle_memory_take(struct throttle_memory *m, const char *device_id, int64_t now_ns);
/* Entries held (tests). */
size_t throttle_memory_count(struct throttle_memory *m);

#endif
