#include "hub/amqp/owners.h"

#include <stdlib.h>
#include <string.h>

#include "hub/amqp/internal.h"

int amqp_owners_init(struct amqp_owners *o)
{
    memset(o, 0, sizeof(*o));
    return pthread_mutex_init(&o->lock, NULL) == 0 ? 0 : -1;
}

void amqp_owners_free(struct amqp_owners *o)
{
    free(o->slots);
    pthread_mutex_destroy(&o->lock);
    memset(o, 0, sizeof(*o));
}

static struct amqp_owner_slot *find(struct amqp_owners *o, const char *cg, uint32_t partition,
                                    bool create)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->slots[i].partition == partition && strcmp(o->slots[i].consumer_group, cg) == 0)
            return &o->slots[i];
    if (!create)
        return NULL;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        struct amqp_owner_slot *v = realloc(o->slots, cap * sizeof(*v));
        if (!v)
            return NULL;
        o->slots = v;
        o->cap = cap;
    }
    struct amqp_owner_slot *s = &o->slots[o->n++];
    memset(s, 0, sizeof(*s));
    memcpy(s->consumer_group, cg, strlen(cg) + 1);
    s->partition = partition;
    return s;
}

static void drop_slot(struct amqp_owners *o, struct amqp_owner_slot *s)
{
    size_t idx = (size_t)(s - o->slots);
    o->slots[idx] = o->slots[--o->n];
}

static void drop(struct amqp_owners *o, struct amqp_owner_slot *s, size_t i)
{
    s->r[i] = s->r[--s->n];
    if (s->n == 0)
        drop_slot(o, s);
}

enum amqp_admit amqp_owners_admit(struct amqp_owners *o, struct amqp_receiver *r,
                                  void (*steal)(struct amqp_receiver *victim))
{
    pthread_mutex_lock(&o->lock);
    enum amqp_admit rc = AMQP_ADMIT_OK;
    struct amqp_owner_slot *s = find(o, r->consumer_group, r->partition, true);
    if (!s) {
        rc = AMQP_ADMIT_NOMEM;
        goto out;
    }
    /* Epoch rules: the highest epoch holds the partition exclusively. */
    for (size_t i = 0; i < s->n; i++) {
        const struct amqp_receiver *x = s->r[i];
        if (x->has_epoch && (!r->has_epoch || x->epoch > r->epoch)) {
            rc = AMQP_ADMIT_STOLEN;
            break;
        }
    }
    if (rc == AMQP_ADMIT_OK && r->has_epoch) {
        for (size_t i = 0; i < s->n;) {
            struct amqp_receiver *x = s->r[i];
            if (!x->has_epoch || x->epoch < r->epoch) {
                x->admitted = false;
                steal(x);
                s->r[i] = s->r[--s->n];
            } else {
                i++;
            }
        }
    }
    if (rc == AMQP_ADMIT_OK && s->n == AMQP_RECEIVERS_MAX)
        rc = AMQP_ADMIT_FULL;
    if (rc == AMQP_ADMIT_OK) {
        s->r[s->n++] = r;
        r->admitted = true;
    } else if (s->n == 0) {
        drop_slot(o, s);
    }
out:
    pthread_mutex_unlock(&o->lock);
    return rc;
}

void amqp_owners_remove(struct amqp_owners *o, struct amqp_receiver *r)
{
    pthread_mutex_lock(&o->lock);
    if (r->admitted) {
        struct amqp_owner_slot *s = find(o, r->consumer_group, r->partition, false);
        for (size_t i = 0; s && i < s->n; i++) {
            if (s->r[i] == r) {
                drop(o, s, i);
                break;
            }
        }
        r->admitted = false;
    }
    pthread_mutex_unlock(&o->lock);
}
