/* Device presence for the registry: connectionState, connectionStateUpdatedTime and
 * lastActivityTime. Network threads report changes here (a mutex and an append); the main
 * thread writes them to the registry in batches once a second, so a message never costs a
 * SQLite write. */
#ifndef IOTHUB_HUB_PRESENCE_H
#define IOTHUB_HUB_PRESENCE_H

#include <stdint.h>

struct presence;
struct registry;

struct presence *presence_new(struct registry *reg);
/* Flushes what is pending, then frees. */
void presence_free(struct presence *p);

/* model_id: the Plug and Play model id the device connected with, or NULL; recorded on its
 * twin (modelId) when it differs from the one stored. */
void presence_connected(struct presence *p, const char *device_id, int64_t when_ms,
                        const char *model_id);
void presence_disconnected(struct presence *p, const char *device_id, int64_t when_ms);
/* Traffic from the device (callers rate-limit to about once a second per connection). */
void presence_touch(struct presence *p, const char *device_id, int64_t when_ms);

/* Writes everything pending to the registry. Returns the number of updates written. */
int presence_flush(struct presence *p);

#endif
