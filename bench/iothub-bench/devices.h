/* The devices the connections authenticate as: ids and keys from a keys file, from the
 * hub's REST API (created on the fly), or ids only (--no-auth). */
#ifndef IOTHUB_BENCH_DEVICES_H
#define IOTHUB_BENCH_DEVICES_H

#include <stddef.h>

#include "opts.h"

#define DEVICE_ID_MAX  128
#define DEVICE_KEY_MAX 96

struct device {
    char id[DEVICE_ID_MAX];
    char key[DEVICE_KEY_MAX]; /* base64; "" with --no-auth */
};

struct device_set {
    struct device *v;
    size_t n;
    char hostname[1024]; /* hub name for usernames and tokens */
};

/* Fills set as the options say (creating devices when asked). Returns 0 or -1 after an
 * error message. */
int devices_load(const struct bench_opts *o, struct device_set *set);
void devices_free(struct device_set *set);

/* Creates (or reads, when they exist) set->n devices named set->v[i].id over the REST API
 * and fills in their primary keys (rest_create.c). */
int devices_create(const struct bench_opts *o, struct device_set *set, const char *hub_host,
                   const char *policy, const char *policy_key);

#endif
