#include "devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/connstr.h"

static int name_all(const struct bench_opts *o, struct device_set *set)
{
    set->n = (size_t)o->devices;
    set->v = calloc(set->n, sizeof(*set->v));
    if (!set->v) {
        fprintf(stderr, "iothub-bench: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < set->n; i++) {
        int n = snprintf(set->v[i].id, sizeof(set->v[i].id), "%s%zu", o->device_prefix, i);
        if (n < 0 || (size_t)n >= sizeof(set->v[i].id)) {
            fprintf(stderr, "iothub-bench: --device-prefix too long\n");
            return -1;
        }
    }
    return 0;
}

/* Reads at most o->devices 'id key' lines. */
static int read_keys(const struct bench_opts *o, struct device_set *set)
{
    FILE *f = fopen(o->keys_file, "r");
    if (!f) {
        fprintf(stderr, "iothub-bench: cannot open %s: %s\n", o->keys_file, strerror(errno));
        return -1;
    }
    set->v = calloc((size_t)o->devices, sizeof(*set->v));
    if (!set->v) {
        fclose(f);
        return -1;
    }
    char line[512];
    size_t lineno = 0;
    while (set->n < (size_t)o->devices && fgets(line, sizeof(line), f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        struct device *d = &set->v[set->n];
        char fmt[32];
        snprintf(fmt, sizeof(fmt), "%%%ds %%%ds", DEVICE_ID_MAX - 1, DEVICE_KEY_MAX - 1);
        if (sscanf(line, fmt, d->id, d->key) != 2) {
            fprintf(stderr, "iothub-bench: %s:%zu: expected 'deviceId key'\n", o->keys_file,
                    lineno);
            fclose(f);
            return -1;
        }
        set->n++;
    }
    fclose(f);
    if (set->n < (size_t)o->devices) {
        fprintf(stderr, "iothub-bench: %s holds %zu devices, %d wanted\n", o->keys_file, set->n,
                o->devices);
        return -1;
    }
    return 0;
}

static int write_keys(const char *path, const struct device_set *set)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "iothub-bench: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < set->n; i++)
        fprintf(f, "%s %s\n", set->v[i].id, set->v[i].key);
    if (fclose(f) != 0) {
        fprintf(stderr, "iothub-bench: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int create(const struct bench_opts *o, struct device_set *set)
{
    struct connstr cs;
    char err[256];
    if (connstr_parse(o->hub_cs, &cs, err, sizeof(err)) != 0 ||
        connstr_kind(&cs, err, sizeof(err)) != CONNSTR_HUB) {
        fprintf(stderr, "iothub-bench: --hub-cs: %s\n", err);
        return -1;
    }
    if (!o->hostname)
        snprintf(set->hostname, sizeof(set->hostname), "%s", cs.host_name);
    if (name_all(o, set) != 0)
        return -1;
    if (devices_create(o, set, cs.host_name, cs.shared_access_key_name, cs.shared_access_key) != 0)
        return -1;
    return o->keys_file ? write_keys(o->keys_file, set) : 0;
}

int devices_load(const struct bench_opts *o, struct device_set *set)
{
    memset(set, 0, sizeof(*set));
    snprintf(set->hostname, sizeof(set->hostname), "%s", o->hostname ? o->hostname : "localhost");
    if (o->no_auth)
        return name_all(o, set);
    if (o->create_devices)
        return create(o, set);
    return read_keys(o, set);
}

void devices_free(struct device_set *set)
{
    free(set->v);
    set->v = NULL;
    set->n = 0;
}
