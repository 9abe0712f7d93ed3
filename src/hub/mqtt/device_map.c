#include "hub/mqtt/device_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/mqtt/conn.h"

/* The chains are intrusive (mqtt_conn.map_next) and keyed by the connection's own
 * id.device_id: a connection in the map costs no allocation. A connection is in the map
 * from device_map_put until device_map_remove (its finalize), so the key outlives its use. */
static const char *key_of(const struct mqtt_conn *c)
{
    return c->id.device_id;
}

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int device_map_init(struct device_map *m)
{
    m->nbuckets = 1024;
    m->count = 0;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    if (!m->buckets)
        return -1;
    pthread_mutex_init(&m->lock, NULL);
    return 0;
}

void device_map_free(struct device_map *m)
{
    if (!m->buckets)
        return;
    /* The connections are not the map's: closing them emptied it. */
    free(m->buckets);
    m->buckets = NULL;
    pthread_mutex_destroy(&m->lock);
}

/* Doubles the table when it is full on average; keeps the old one if memory is short. */
static void grow(struct device_map *m)
{
    size_t n = m->nbuckets * 2;
    struct mqtt_conn **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mqtt_conn *e = m->buckets[i];
        while (e) {
            struct mqtt_conn *next = e->map_next;
            size_t k = hash_id(key_of(e)) & (n - 1);
            e->map_next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

static struct mqtt_conn **find(struct device_map *m, const char *device_id)
{
    struct mqtt_conn **pe = &m->buckets[hash_id(device_id) & (m->nbuckets - 1)];
    while (*pe && strcmp(key_of(*pe), device_id) != 0)
        pe = &(*pe)->map_next;
    return pe;
}

struct mqtt_conn *device_map_put(struct device_map *m, const char *device_id,
                                 struct mqtt_conn *conn, int *status)
{
    struct mqtt_conn *old = NULL;
    *status = 0;
    pthread_mutex_lock(&m->lock);
    struct mqtt_conn **pe = find(m, device_id);
    if (*pe) { /* the newer connection takes the older one's place in the chain */
        old = *pe;
        mqtt_conn_ref(old);
        conn->map_next = old->map_next;
        old->map_next = NULL;
        *pe = conn;
        goto out;
    }
    conn->map_next = NULL;
    *pe = conn;
    if (++m->count > m->nbuckets)
        grow(m);
out:
    pthread_mutex_unlock(&m->lock);
    return old;
}

bool device_map_remove(struct device_map *m, const char *device_id, struct mqtt_conn *conn)
{
    bool removed = false;
    pthread_mutex_lock(&m->lock);
    struct mqtt_conn **pe = find(m, device_id);
    if (*pe == conn) {
        *pe = conn->map_next;
        conn->map_next = NULL;
        m->count--;
        removed = true;
    }
    pthread_mutex_unlock(&m->lock);
    return removed;
}

struct mqtt_conn *device_map_get(struct device_map *m, const char *device_id)
{
    pthread_mutex_lock(&m->lock);
    struct mqtt_conn *conn = *find(m, device_id);
    if (conn)
        mqtt_conn_ref(conn);
    pthread_mutex_unlock(&m->lock);
    return conn;
}

size_t device_map_count(struct device_map *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}
