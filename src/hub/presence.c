#include "hub/presence.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/device.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "store/registry.h"
#include "store/twin_store.h"

/* Bounds the memory of a burst; beyond it, activity updates are dropped (they are
 * advisory), connection-state changes are kept. */
#define PRESENCE_TOUCH_MAX 100000

struct presence_event {
    char device_id[DEVICE_ID_MAX + 1];
    int64_t when_ms;
    int kind;       /* 1 connected, 0 disconnected, 2 activity */
    char *model_id; /* connected: the Plug and Play model id it named (owned), or NULL */
};

struct presence {
    pthread_mutex_t lock;
    struct registry *reg;
    struct presence_event *events;
    size_t count, cap, touches;
};

struct presence *presence_new(struct registry *reg)
{
    struct presence *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->reg = reg;
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void presence_free(struct presence *p)
{
    if (!p)
        return;
    presence_flush(p);
    pthread_mutex_destroy(&p->lock);
    free(p->events);
    free(p);
}

static void add(struct presence *p, const char *device_id, int64_t when_ms, int kind,
                const char *model_id)
{
    /* Copied outside the lock; on failure the model id waits for the next connect. */
    char *model_copy = model_id ? strdup(model_id) : NULL;
    pthread_mutex_lock(&p->lock);
    if (kind == 2 && p->touches >= PRESENCE_TOUCH_MAX)
        goto out;
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        struct presence_event *grown = realloc(p->events, cap * sizeof(*grown));
        if (!grown) {
            log_warn("presence update dropped: out of memory", "device=%s", device_id);
            goto out;
        }
        p->events = grown;
        p->cap = cap;
    }
    struct presence_event *e = &p->events[p->count++];
    str_copy(e->device_id, sizeof(e->device_id), device_id);
    e->when_ms = when_ms;
    e->kind = kind;
    e->model_id = model_copy;
    model_copy = NULL;
    if (kind == 2)
        p->touches++;
out:
    pthread_mutex_unlock(&p->lock);
    free(model_copy);
}

void presence_connected(struct presence *p, const char *device_id, int64_t when_ms,
                        const char *model_id)
{
    add(p, device_id, when_ms, 1, model_id);
}

void presence_disconnected(struct presence *p, const char *device_id, int64_t when_ms)
{
    add(p, device_id, when_ms, 0, NULL);
}

void presence_touch(struct presence *p, const char *device_id, int64_t when_ms)
{
    add(p, device_id, when_ms, 2, NULL);
}

int presence_flush(struct presence *p)
{
    pthread_mutex_lock(&p->lock);
    struct presence_event *batch = p->events;
    size_t n = p->count;
    p->events = NULL;
    p->count = p->cap = p->touches = 0;
    pthread_mutex_unlock(&p->lock);
    if (n == 0)
        return 0;

    /* Connection states in order (a reconnect is disconnected then connected); activity
     * in one batched transaction. A connect also counts as activity. */
    const char **ids = malloc(n * sizeof(*ids));
    size_t nids = 0;
    int64_t latest = 0;
    for (size_t i = 0; i < n; i++) {
        struct presence_event *e = &batch[i];
        if (e->kind != 2)
            registry_set_connection_state(p->reg, e->device_id, e->kind == 1, e->when_ms);
        if (e->model_id) {
            int rc = twin_store_set_model_id(p->reg, e->device_id, e->model_id);
            if (rc != REG_OK && rc != REG_NOT_FOUND) /* not found: deleted meanwhile */
                log_warn("cannot record the model id a device connected with; it is recorded "
                         "at its next connection",
                         "device=%s reason=\"%s\"", e->device_id, registry_strerror(rc));
            free(e->model_id);
        }
        if (e->kind != 0 && ids) {
            ids[nids++] = e->device_id;
            if (e->when_ms > latest)
                latest = e->when_ms;
        }
    }
    if (ids && nids)
        registry_touch_activity(p->reg, ids, nids, latest);
    free(ids);
    free(batch);
    return (int)n;
}
