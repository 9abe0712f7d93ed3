/* Who reads each (consumer group, partition) (spec 5.4): at most AMQP_RECEIVERS_MAX
 * receivers, and owner-level (epoch) rules: a receiver with a higher epoch steals the
 * partition from lower or epoch-less ones; a lower or epoch-less one is refused while a
 * higher one holds it. Shared by every network thread, behind a mutex. */
#ifndef IOTHUB_HUB_AMQP_OWNERS_H
#define IOTHUB_HUB_AMQP_OWNERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AMQP_RECEIVERS_MAX 5
#define AMQP_CG_MAX        64

struct amqp_receiver;

struct amqp_owner_slot {
    char consumer_group[AMQP_CG_MAX]; /* lower-case */
    uint32_t partition;
    struct amqp_receiver *r[AMQP_RECEIVERS_MAX];
    size_t n;
};

struct amqp_owners {
    pthread_mutex_t lock;
    struct amqp_owner_slot *slots;
    size_t n, cap;
};

enum amqp_admit {
    AMQP_ADMIT_OK = 0,
    AMQP_ADMIT_STOLEN = 1, /* a receiver with a higher (or any, for epoch-less) epoch holds it */
    AMQP_ADMIT_FULL = 2,   /* AMQP_RECEIVERS_MAX already */
    AMQP_ADMIT_NOMEM = 3,
};

int amqp_owners_init(struct amqp_owners *o);
void amqp_owners_free(struct amqp_owners *o);

/* Admits r (its consumer group, partition and epoch are read from it). Receivers it steals
 * from are removed and handed to steal(victim) under the lock (which must only post work,
 * taking its own reference). */
enum amqp_admit amqp_owners_admit(struct amqp_owners *o, struct amqp_receiver *r,
                                  void (*steal)(struct amqp_receiver *victim));
/* Removes r if present. */
void amqp_owners_remove(struct amqp_owners *o, struct amqp_receiver *r);

#endif
