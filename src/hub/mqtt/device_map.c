#include "hub/mqtt/device_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/device.h"
#include "common/strbuf.h"
#include "hub/mqtt/conn.h"

struct device_map_entry {
    struct device_map_entry *next;
    struct mqtt_conn *conn;
    char device_id[DEVICE_ID_MAX + 1];
};

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
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct device_map_entry *e = m->buckets[i];
        while (e) {
            struct device_map_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    pthread_mutex_destroy(&m->lock);
}

/* Doubles the table when it is full on average; keeps the old one if memory is short. */
static void grow(struct device_map *m)
{
    size_t n = m->nbuckets * 2;
    struct device_map_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct device_map_entry *e = m->buckets[i];
        while (e) {
            struct device_map_entry *next = e->next;
            size_t k = hash_id(e->device_id) & (n - 1);
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

static struct device_map_entry **find(struct device_map *m, const char *device_id)
{
    struct device_map_entry **pe = &m->buckets[hash_id(device_id) & (m->nbuckets - 1)];
    while (*pe && strcmp((*pe)->device_id, device_id) != 0)
        pe = &(*pe)->next;
    return pe;
}

struct mqtt_conn *device_map_put(struct device_map *m, const char *device_id,
                                 struct mqtt_conn *conn, int *status)
{
    struct mqtt_conn *old = NULL;
    *status = 0;
    pthread_mutex_lock(&m->lock);
    struct device_map_entry **pe = find(m, device_id);
    if (*pe) {
        old = (*pe)->conn;
        mqtt_conn_ref(old);
        (*pe)->conn = conn;
        goto out;
    }
    struct device_map_entry *e = malloc(sizeof(*e));
    if (!e) {
        *status = -1;
        goto out;
    }
    str_copy(e->device_id, sizeof(e->device_id), device_id);
    e->conn = conn;
    e->next = NULL;
    *pe = e;
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
    struct device_map_entry **pe = find(m, device_id);
    if (*pe && (*pe)->conn == conn) {
        struct device_map_entry *e = *pe;
        *pe = e->next;
        free(e);
        m->count--;
        removed = true;
    }
    pthread_mutex_unlock(&m->lock);
    return removed;
}

struct mqtt_conn *device_map_get(struct device_map *m, const char *device_id)
{
    pthread_mutex_lock(&m->lock);
    struct device_map_entry **pe = find(m, device_id);
    struct mqtt_conn *conn = *pe ? (*pe)->conn : NULL;
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
