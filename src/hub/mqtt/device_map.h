/* Which connection, on which thread, a device is connected with. One connection per device:
 * a newer CONNECT replaces the older connection. Guarded by a mutex; touched only at
 * CONNECT, close and registry changes, never per message. */
#ifndef IOTHUB_HUB_MQTT_DEVICE_MAP_H
#define IOTHUB_HUB_MQTT_DEVICE_MAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct mqtt_conn;

struct device_map {
    pthread_mutex_t lock;
    struct mqtt_conn **buckets; /* chained through mqtt_conn.map_next */
    size_t nbuckets;            /* power of two */
    size_t count;
};

int device_map_init(struct device_map *m);
void device_map_free(struct device_map *m);

/* Makes conn the device's connection; device_id must be conn->id.device_id (the map keys
 * on it, without a copy). Returns the connection it replaced (with a reference taken for
 * the caller), or NULL. *status is 0 (the map allocates nothing per connection). */
struct mqtt_conn *device_map_put(struct device_map *m, const char *device_id,
                                 struct mqtt_conn *conn, int *status);
/* Removes the entry when it still points at conn; false when a newer connection of the
 * device has taken it over (which then owns the device's presence and session). */
bool device_map_remove(struct device_map *m, const char *device_id, struct mqtt_conn *conn);
/* The device's connection with a reference taken, or NULL. */
struct mqtt_conn *device_map_get(struct device_map *m, const char *device_id);
size_t device_map_count(struct device_map *m);

#endif
