#include "hub/throttle_memory.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024 /* chains stay short: entries live seconds */

struct entry {
    struct entry *next;
    int64_t tat_ns;
    char device_id[]; /* NUL-terminated */
};

struct throttle_memory {
    pthread_mutex_t lock;
    size_t count, max;
    struct entry *chains[BUCKETS];
};

static size_t chain_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a 32 */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % BUCKETS;
}

/* Unlinks and frees the chain's entries that no longer hold anything (lock held). */
static void prune(struct throttle_memory *m, struct entry **link, int64_t now_ns)
{
    while (*link) {
        struct entry *e = *link;
        if (e->tat_ns > now_ns) {
            link = &e->next;
            continue;
        }
        *link = e->next;
        free(e);
        m->count--;
    }
}

/* The link that points to id's entry, or to the chain's end (lock held). */
static struct entry **find(struct entry **link, const char *id)
{
    while (*link && strcmp((*link)->device_id, id) != 0)
        link = &(*link)->next;
    return link;
}

struct throttle_memory *throttle_memory_new(size_t max_entries)
{
    struct throttle_memory *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->max = max_entries;
    return m;
}

void throttle_memory_free(struct throttle_memory *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        while (m->chains[i]) {
            struct entry *e = m->chains[i];
            m->chains[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void throttle_memory_save(struct throttle_memory *m, const char *device_id, int64_t tat_ns,
                          int64_t now_ns)
{
    pthread_mutex_lock(&m->lock);
    struct entry **chain = &m->chains[chain_of(device_id)];
    prune(m, chain, now_ns);
    struct entry **link = find(chain, device_id);
    if (*link) {
        (*link)->tat_ns = tat_ns;
        prune(m, chain, now_ns); /* forgets it when the bucket is full again */
        pthread_mutex_unlock(&m->lock);
        return;
    }
    if (tat_ns > now_ns && m->count >= m->max) /* full: make room from the whole table */
        for (size_t i = 0; i < BUCKETS; i++)
            prune(m, &m->chains[i], now_ns);
    if (tat_ns > now_ns && m->count < m->max) {
        size_t len = strlen(device_id) + 1;
        struct entry *e = malloc(sizeof(*e) + len);
        if (e) { /* out of memory: the device gets a full bucket, as before this table */
            e->next = NULL;
            e->tat_ns = tat_ns;
            memcpy(e->device_id, device_id, len);
            *find(chain, device_id) = e; /* the chain's end */
            m->count++;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

int64_t throttle_memory_take(struct throttle_memory *m, const char *device_id, int64_t now_ns)
{
    pthread_mutex_lock(&m->lock);
    struct entry **chain = &m->chains[chain_of(device_id)];
    prune(m, chain, now_ns);
    struct entry **link = find(chain, device_id);
    int64_t tat = 0;
    if (*link) {
        struct entry *e = *link;
        tat = e->tat_ns;
        *link = e->next;
        free(e);
        m->count--;
    }
    pthread_mutex_unlock(&m->lock);
    return tat;
}

size_t throttle_memory_count(struct throttle_memory *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}
