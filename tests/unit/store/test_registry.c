/* The embedded registry (SQLite backend) against its contract in store/registry.h. Each
 * test gets its own temporary directory and database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/isotime.h"
#include "store/registry.h"
#include "store/registry_sqlite/internal.h"
#include "store/scratch_dir.h"

#define MAX_EVENTS 64

struct event {
    char device_id[DEVICE_ID_MAX + 1];
    enum registry_change change;
};

struct fixture {
    char dir[64];
    char path[128];
    struct registry *reg;
    pthread_mutex_t events_lock;
    struct event events[MAX_EVENTS];
    size_t nevents;
};

static struct registry *open_or_die(const char *path)
{
    char err[512] = "";
    struct registry *reg = registry_open(path, err, sizeof(err));
    if (!reg)
        fprintf(stderr, "registry_open: %s\n", err);
    assert_non_null(reg);
    return reg;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (scratch_dir_make(f->dir, sizeof(f->dir), "registry") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
    pthread_mutex_init(&f->events_lock, NULL);
    f->reg = open_or_die(f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    registry_close(f->reg);
    scratch_dir_remove(f->dir);
    pthread_mutex_destroy(&f->events_lock);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    registry_close(f->reg);
    f->reg = open_or_die(f->path);
}

static void record_event(void *ctx, const char *device_id, enum registry_change change)
{
    struct fixture *f = ctx;
    /* The listener runs outside the registry lock: reading back must not deadlock. */
    struct device dev;
    int rc = registry_get_device(f->reg, device_id, &dev);
    assert_int_equal(rc, change == REG_CHANGE_DELETED ? REG_NOT_FOUND : REG_OK);
    pthread_mutex_lock(&f->events_lock);
    if (f->nevents < MAX_EVENTS) {
        snprintf(f->events[f->nevents].device_id, sizeof(f->events[0].device_id), "%s", device_id);
        f->events[f->nevents].change = change;
        f->nevents++;
    }
    pthread_mutex_unlock(&f->events_lock);
}

static struct device sas_device(const char *id)
{
    struct device d;
    memset(&d, 0, sizeof(d));
    snprintf(d.device_id, sizeof(d.device_id), "%s", id);
    d.enabled = true;
    d.auth_type = DEVICE_AUTH_SAS;
    return d;
}

static void assert_key_32_bytes(const char *key)
{
    uint8_t raw[64];
    assert_int_equal(strlen(key), 44);
    assert_int_equal(base64_decode(key, strlen(key), raw, sizeof(raw)), 32);
}

static void assert_generation_id(const char *gen)
{
    assert_int_equal(strlen(gen), 18);
    for (const char *p = gen; *p; p++)
        assert_true(*p >= '0' && *p <= '9');
    /* .NET ticks of "now", give or take a minute. */
    int64_t ticks = strtoll(gen, NULL, 10);
    int64_t now = time_now_ms() * 10000 + INT64_C(621355968000000000);
    assert_true(ticks > now - INT64_C(600000000) && ticks <= now + INT64_C(600000000));
}

/* ---- create / get ------------------------------------------------------------------ */

static void test_create_generates_keys_and_ids(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("dev1"), out, got;
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    assert_string_equal(out.device_id, "dev1");
    assert_key_32_bytes(out.primary_key);
    assert_key_32_bytes(out.secondary_key);
    assert_string_not_equal(out.primary_key, out.secondary_key);
    assert_generation_id(out.generation_id);
    assert_string_equal(out.etag, "MQ=="); /* base64("1") */
    assert_true(out.enabled);
    assert_false(out.has_status_reason);
    assert_int_equal(out.status_updated_ms, 0);
    assert_false(out.connected);
    assert_int_equal(out.auth_type, DEVICE_AUTH_SAS);

    assert_int_equal(registry_get_device(f->reg, "dev1", &got), REG_OK);
    assert_memory_equal(&got, &out, sizeof(got));
    assert_int_equal(registry_get_device(f->reg, "DEV1", &got), REG_NOT_FOUND);

    struct device_auth auth;
    assert_int_equal(registry_get_device_auth(f->reg, "dev1", &auth), REG_OK);
    assert_true(auth.enabled);
    assert_int_equal(auth.auth_type, DEVICE_AUTH_SAS);
    assert_string_equal(auth.primary_key, out.primary_key);
    assert_string_equal(auth.secondary_key, out.secondary_key);
    assert_string_equal(auth.generation_id, out.generation_id);
    assert_int_equal(registry_get_device_auth(f->reg, "nope", &auth), REG_NOT_FOUND);
}

static void test_create_keeps_given_keys_and_fields(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("dev-given"), out;
    snprintf(in.primary_key, sizeof(in.primary_key),
             "RkFLRS1QUklNQVJZLUtFWS1OT1QtQS1TRUNSRVQtMDE=");
    in.enabled = false;
    in.has_status_reason = true;
    snprintf(in.status_reason, sizeof(in.status_reason), "maintenance");
    in.iot_edge = true;
    snprintf(in.device_scope, sizeof(in.device_scope), "ms-azure-iot-edge://edge-1");
    in.connected = true;         /* read-only: ignored */
    in.last_activity_ms = 12345; /* read-only: ignored */
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    assert_string_equal(out.primary_key, in.primary_key);
    assert_key_32_bytes(out.secondary_key);
    assert_false(out.enabled);
    assert_true(out.has_status_reason);
    assert_string_equal(out.status_reason, "maintenance");
    assert_true(out.iot_edge);
    assert_string_equal(out.device_scope, "ms-azure-iot-edge://edge-1");
    assert_false(out.connected);
    assert_int_equal(out.last_activity_ms, 0);
}

static void test_create_exists_and_invalid(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("dup"), out;
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_EXISTS);

    struct device bad = sas_device("a/b");
    assert_int_equal(registry_create_device(f->reg, &bad, &out), REG_INVALID);
    bad = sas_device("");
    assert_int_equal(registry_create_device(f->reg, &bad, &out), REG_INVALID);
    bad = sas_device("badkey");
    snprintf(bad.primary_key, sizeof(bad.primary_key), "QUJD"); /* 3 bytes */
    assert_int_equal(registry_create_device(f->reg, &bad, &out), REG_INVALID);
    bad = sas_device("selfsigned-without-thumbprint");
    bad.auth_type = DEVICE_AUTH_SELF_SIGNED;
    assert_int_equal(registry_create_device(f->reg, &bad, &out), REG_INVALID);
    bad.auth_type = (enum device_auth_type)9;
    assert_int_equal(registry_create_device(f->reg, &bad, &out), REG_INVALID);
    assert_int_equal(registry_get_device(f->reg, "badkey", &out), REG_NOT_FOUND);
}

static void test_create_self_signed(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("x509"), out;
    in.auth_type = DEVICE_AUTH_SELF_SIGNED;
    snprintf(in.primary_thumbprint, sizeof(in.primary_thumbprint), "%s",
             "0123456789ABCDEF0123456789ABCDEF01234567");
    snprintf(in.primary_key, sizeof(in.primary_key), "%s",
             "RkFLRS1QUklNQVJZLUtFWS1OT1QtQS1TRUNSRVQtMDE=");
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    assert_int_equal(out.auth_type, DEVICE_AUTH_SELF_SIGNED);
    assert_string_equal(out.primary_thumbprint, in.primary_thumbprint);
    assert_string_equal(out.secondary_thumbprint, "");
    assert_string_equal(out.primary_key, ""); /* not used by selfSigned */
    struct device_auth auth;
    assert_int_equal(registry_get_device_auth(f->reg, "x509", &auth), REG_OK);
    assert_string_equal(auth.primary_thumbprint, in.primary_thumbprint);
    assert_int_equal(auth.auth_type, DEVICE_AUTH_SELF_SIGNED);
}

static void test_generation_ids_unique_across_recreation(void **state)
{
    struct fixture *f = *state;
    char previous[24] = "";
    for (int i = 0; i < 20; i++) {
        struct device in = sas_device("again"), out;
        assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
        assert_generation_id(out.generation_id);
        assert_true(strcmp(out.generation_id, previous) > 0);
        snprintf(previous, sizeof(previous), "%s", out.generation_id);
        assert_int_equal(registry_delete_device(f->reg, "again", NULL), REG_OK);
    }
}

/* ---- update ------------------------------------------------------------------------ */

static void test_update_if_match_rules(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("etag"), out;
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    assert_string_equal(out.etag, "MQ==");
    assert_int_equal(registry_update_device(f->reg, &in, NULL, &out), REG_OK);
    assert_string_equal(out.etag, "Mg=="); /* "2" */
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_string_equal(out.etag, "Mw=="); /* "3" */
    assert_int_equal(registry_update_device(f->reg, &in, "\"*\"", &out), REG_OK);
    assert_string_equal(out.etag, "NA=="); /* "4" */
    assert_int_equal(registry_update_device(f->reg, &in, "MQ==", &out), REG_PRECONDITION);
    assert_int_equal(registry_update_device(f->reg, &in, "", &out), REG_PRECONDITION);
    assert_int_equal(registry_update_device(f->reg, &in, "NA==", &out), REG_OK);
    assert_string_equal(out.etag, "NQ==");
    assert_int_equal(registry_update_device(f->reg, &in, "\"NQ==\"", &out), REG_OK);
    assert_string_equal(out.etag, "Ng==");
    for (int i = 0; i < 4; i++)
        assert_int_equal(registry_update_device(f->reg, &in, NULL, &out), REG_OK);
    assert_string_equal(out.etag, "MTA="); /* "10" */

    struct device missing = sas_device("missing");
    assert_int_equal(registry_update_device(f->reg, &missing, NULL, &out), REG_NOT_FOUND);
    assert_int_equal(registry_update_device(f->reg, &missing, "*", &out), REG_NOT_FOUND);
}

static void test_update_keeps_keys_when_empty(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("keys"), created, out;
    assert_int_equal(registry_create_device(f->reg, &in, &created), REG_OK);
    in.enabled = true;
    in.has_status_reason = true;
    snprintf(in.status_reason, sizeof(in.status_reason), "note");
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_string_equal(out.primary_key, created.primary_key);
    assert_string_equal(out.secondary_key, created.secondary_key);
    assert_string_equal(out.generation_id, created.generation_id);
    assert_string_equal(out.status_reason, "note");

    /* New keys replace the old ones, in the database and in the auth cache. */
    snprintf(in.primary_key, sizeof(in.primary_key), "%s",
             "RkFLRS1QUklNQVJZLUtFWS1OT1QtQS1TRUNSRVQtMDE=");
    snprintf(in.secondary_key, sizeof(in.secondary_key), "%s",
             "RkFLRS1TRUNPTkRBUlktS0VZLU5PVC1TRUNSRVQtMDI=");
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_string_equal(out.primary_key, in.primary_key);
    struct device_auth auth;
    assert_int_equal(registry_get_device_auth(f->reg, "keys", &auth), REG_OK);
    assert_string_equal(auth.primary_key, in.primary_key);
    assert_string_equal(auth.secondary_key, in.secondary_key);

    struct device got;
    assert_int_equal(registry_get_device(f->reg, "keys", &got), REG_OK);
    assert_memory_equal(&got, &out, sizeof(got));
}

static void test_update_status_and_cache(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("status"), out;
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    assert_int_equal(out.status_updated_ms, 0);
    int64_t before = time_now_ms();
    in.enabled = false;
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_false(out.enabled);
    assert_true(out.status_updated_ms >= before && out.status_updated_ms <= time_now_ms());
    struct device_auth auth;
    assert_int_equal(registry_get_device_auth(f->reg, "status", &auth), REG_OK);
    assert_false(auth.enabled);

    /* Same status again: statusUpdatedTime stays. */
    int64_t when = out.status_updated_ms;
    usleep(2000);
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_int_equal(out.status_updated_ms, when);

    in.enabled = true;
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_true(out.status_updated_ms > when);
    assert_int_equal(registry_get_device_auth(f->reg, "status", &auth), REG_OK);
    assert_true(auth.enabled);
}

static void test_update_switches_auth_type(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("switch"), out;
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    in.auth_type = DEVICE_AUTH_SELF_SIGNED;
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_INVALID);
    snprintf(in.secondary_thumbprint, sizeof(in.secondary_thumbprint), "%s",
             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_string_equal(out.primary_key, "");
    assert_string_equal(out.secondary_thumbprint, in.secondary_thumbprint);
    /* Empty thumbprints keep the current ones. */
    in.secondary_thumbprint[0] = '\0';
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_string_equal(out.secondary_thumbprint,
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    /* Back to sas without keys: new keys are generated. */
    in.auth_type = DEVICE_AUTH_SAS;
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_key_32_bytes(out.primary_key);
    assert_key_32_bytes(out.secondary_key);
    assert_string_equal(out.secondary_thumbprint, "");
}

/* ---- delete / list / statistics ------------------------------------------------------ */

static void test_delete_rules(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("gone"), out;
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    assert_int_equal(registry_delete_device(f->reg, "gone", "Mg=="), REG_PRECONDITION);
    assert_int_equal(registry_get_device(f->reg, "gone", &out), REG_OK);
    assert_int_equal(registry_delete_device(f->reg, "gone", "\"MQ==\""), REG_OK);
    assert_int_equal(registry_get_device(f->reg, "gone", &out), REG_NOT_FOUND);
    struct device_auth auth;
    assert_int_equal(registry_get_device_auth(f->reg, "gone", &auth), REG_NOT_FOUND);
    assert_int_equal(registry_delete_device(f->reg, "gone", "*"), REG_NOT_FOUND);
    assert_int_equal(registry_delete_device(f->reg, "gone", NULL), REG_NOT_FOUND);

    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    assert_int_equal(registry_delete_device(f->reg, "gone", "\"*\""), REG_OK);
}

static void test_list_ordered_with_top(void **state)
{
    struct fixture *f = *state;
    const char *ids[] = {"b", "a", "C", "c", "a-2"};
    for (size_t i = 0; i < 5; i++) {
        struct device in = sas_device(ids[i]), out;
        assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    }
    struct device *list = NULL;
    size_t n = 0;
    assert_int_equal(registry_list_devices(f->reg, 1000, &list, &n), REG_OK);
    assert_int_equal(n, 5);
    const char *want[] = {"C", "a", "a-2", "b", "c"}; /* byte order: ids are case-sensitive */
    for (size_t i = 0; i < n; i++)
        assert_string_equal(list[i].device_id, want[i]);
    assert_key_32_bytes(list[0].primary_key);
    assert_string_equal(list[0].etag, "MQ==");
    free(list);

    assert_int_equal(registry_list_devices(f->reg, 2, &list, &n), REG_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[1].device_id, "a");
    free(list);

    assert_int_equal(registry_list_devices(f->reg, 0, &list, &n), REG_OK);
    assert_int_equal(n, 0);
    assert_null(list);
}

static void test_list_empty(void **state)
{
    struct fixture *f = *state;
    struct device *list = (struct device *)1;
    size_t n = 7;
    assert_int_equal(registry_list_devices(f->reg, 10, &list, &n), REG_OK);
    assert_int_equal(n, 0);
    assert_null(list);
}

static void test_statistics(void **state)
{
    struct fixture *f = *state;
    struct registry_stats st;
    assert_int_equal(registry_statistics(f->reg, &st), REG_OK);
    assert_int_equal(st.total, 0);
    assert_int_equal(st.enabled, 0);
    assert_int_equal(st.disabled, 0);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof(id), "s%d", i);
        struct device in = sas_device(id), out;
        in.enabled = i < 3;
        assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    }
    assert_int_equal(registry_statistics(f->reg, &st), REG_OK);
    assert_int_equal(st.total, 5);
    assert_int_equal(st.enabled, 3);
    assert_int_equal(st.disabled, 2);
}

/* ---- connection state and activity ------------------------------------------------- */

static void test_connection_state_and_activity(void **state)
{
    struct fixture *f = *state;
    struct device a = sas_device("conn-a"), b = sas_device("conn-b"), out;
    assert_int_equal(registry_create_device(f->reg, &a, &out), REG_OK);
    assert_int_equal(registry_create_device(f->reg, &b, &out), REG_OK);

    assert_int_equal(registry_set_connection_state(f->reg, "conn-a", true, 1700000000123), REG_OK);
    assert_int_equal(registry_set_connection_state(f->reg, "nobody", true, 1700000000123),
                     REG_NOT_FOUND);
    assert_int_equal(registry_get_device(f->reg, "conn-a", &out), REG_OK);
    assert_true(out.connected);
    assert_int_equal(out.connection_state_updated_ms, 1700000000123);
    assert_string_equal(out.etag, "MQ=="); /* not an identity update */

    const char *ids[] = {"conn-a", "nobody", "conn-b"};
    assert_int_equal(registry_touch_activity(f->reg, ids, 3, 1700000005000), REG_OK);
    assert_int_equal(registry_touch_activity(f->reg, ids, 3, 1700000001000), REG_OK);
    assert_int_equal(registry_touch_activity(f->reg, ids, 0, 1700000009000), REG_OK);
    assert_int_equal(registry_get_device(f->reg, "conn-b", &out), REG_OK);
    assert_int_equal(out.last_activity_ms, 1700000005000); /* never moves backwards */
    assert_false(out.connected);

    assert_int_equal(registry_set_connection_state(f->reg, "conn-a", false, 1700000006000), REG_OK);
    reopen(f);
    assert_int_equal(registry_get_device(f->reg, "conn-a", &out), REG_OK);
    assert_false(out.connected);
    assert_int_equal(out.connection_state_updated_ms, 1700000006000);
    assert_int_equal(out.last_activity_ms, 1700000005000);
}

/* ---- persistence ------------------------------------------------------------------- */

static void test_persistence_across_reopen(void **state)
{
    struct fixture *f = *state;
    struct device in = sas_device("persist"), created, updated, got;
    assert_int_equal(registry_create_device(f->reg, &in, &created), REG_OK);
    in.enabled = false;
    in.has_status_reason = true;
    snprintf(in.status_reason, sizeof(in.status_reason), "stolen");
    assert_int_equal(registry_update_device(f->reg, &in, "*", &updated), REG_OK);
    assert_int_equal(registry_ensure_default_policies(f->reg), REG_OK);
    struct policy owner;
    assert_int_equal(registry_get_policy(f->reg, "iothubowner", &owner), REG_OK);
    assert_int_equal(registry_set_setting(f->reg, "hostname", "hub.example.net"), REG_OK);

    reopen(f);
    assert_int_equal(registry_get_device(f->reg, "persist", &got), REG_OK);
    assert_memory_equal(&got, &updated, sizeof(got));
    struct device_auth auth;
    assert_int_equal(registry_get_device_auth(f->reg, "persist", &auth), REG_OK);
    assert_false(auth.enabled);
    assert_string_equal(auth.primary_key, created.primary_key);
    struct policy again;
    assert_int_equal(registry_get_policy(f->reg, "iothubowner", &again), REG_OK);
    assert_memory_equal(&again, &owner, sizeof(again));
    char value[64];
    assert_int_equal(registry_get_setting(f->reg, "hostname", value, sizeof(value)), REG_OK);
    assert_string_equal(value, "hub.example.net");

    /* A re-created device gets a newer generationId than the one before the restart. */
    assert_int_equal(registry_delete_device(f->reg, "persist", "*"), REG_OK);
    assert_int_equal(registry_create_device(f->reg, &in, &got), REG_OK);
    assert_true(strcmp(got.generation_id, created.generation_id) > 0);
    assert_string_equal(got.etag, "MQ==");
}

/* ---- concurrency ------------------------------------------------------------------- */

#define RACERS 16

struct racer {
    struct registry *reg;
    pthread_barrier_t *start;
    const char *id;
    int result;
};

static void *race_create(void *arg)
{
    struct racer *r = arg;
    struct device in = sas_device(r->id), out;
    pthread_barrier_wait(r->start);
    r->result = registry_create_device(r->reg, &in, &out);
    return NULL;
}

static void test_concurrent_create_exactly_one_wins(void **state)
{
    struct fixture *f = *state;
    registry_set_change_listener(f->reg, record_event, f);
    for (int round = 0; round < 5; round++) {
        char id[32];
        snprintf(id, sizeof(id), "contested-%d", round);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, RACERS);
        pthread_t threads[RACERS];
        struct racer racers[RACERS];
        for (int i = 0; i < RACERS; i++) {
            racers[i] = (struct racer){f->reg, &start, id, 1};
            assert_int_equal(pthread_create(&threads[i], NULL, race_create, &racers[i]), 0);
        }
        int ok = 0, exists = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(threads[i], NULL);
            if (racers[i].result == REG_OK)
                ok++;
            else if (racers[i].result == REG_EXISTS)
                exists++;
        }
        pthread_barrier_destroy(&start);
        assert_int_equal(ok, 1);
        assert_int_equal(exists, RACERS - 1);
    }
    assert_int_equal(f->nevents, 5);
    struct registry_stats st;
    assert_int_equal(registry_statistics(f->reg, &st), REG_OK);
    assert_int_equal(st.total, 5);
}

struct reader {
    struct registry *reg;
    atomic_int *stop;
    long lookups;
};

static void *read_auth_loop(void *arg)
{
    struct reader *r = arg;
    struct device_auth auth;
    do { /* at least one lookup, however the threads get scheduled */
        registry_get_device_auth(r->reg, "churn-3", &auth);
        r->lookups++;
    } while (!atomic_load(r->stop));
    return NULL;
}

/* Auth lookups run while another thread creates, updates and deletes (for ASan/TSan). */
static void test_auth_lookups_during_writes(void **state)
{
    struct fixture *f = *state;
    atomic_int stop = 0;
    struct reader readers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        readers[i] = (struct reader){f->reg, &stop, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, read_auth_loop, &readers[i]), 0);
    }
    int failures = 0; /* asserted after the join: an assertion here would leave threads */
    for (int i = 0; i < 200; i++) {
        char id[16];
        snprintf(id, sizeof(id), "churn-%d", i % 8);
        struct device in = sas_device(id), out;
        int rc = registry_create_device(f->reg, &in, &out);
        if (rc == REG_EXISTS) {
            in.enabled = (i & 1) != 0;
            failures += registry_update_device(f->reg, &in, NULL, &out) != REG_OK;
            if (i % 3 == 0)
                failures += registry_delete_device(f->reg, id, NULL) != REG_OK;
        } else {
            failures += rc != REG_OK;
        }
    }
    atomic_store(&stop, 1);
    /* Join every reader before any assertion can leave the test and free the registry. */
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_true(readers[i].lookups > 0);
    assert_int_equal(failures, 0);
}

/* ---- change listener --------------------------------------------------------------- */

static void test_change_listener_events(void **state)
{
    struct fixture *f = *state;
    registry_set_change_listener(f->reg, record_event, f);
    struct device in = sas_device("watched"), out;
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    in.has_status_reason = true;
    snprintf(in.status_reason, sizeof(in.status_reason), "just a note");
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    snprintf(in.primary_key, sizeof(in.primary_key), "%s",
             "RkFLRS1QUklNQVJZLUtFWS1OT1QtQS1TRUNSRVQtMDE=");
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    in.enabled = false;
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    in.enabled = true;
    assert_int_equal(registry_update_device(f->reg, &in, "*", &out), REG_OK);
    assert_int_equal(registry_update_device(f->reg, &in, "bad-etag", &out), REG_PRECONDITION);
    assert_int_equal(registry_delete_device(f->reg, "watched", NULL), REG_OK);
    assert_int_equal(registry_create_device(f->reg, &(struct device){.device_id = "a/b"}, &out),
                     REG_INVALID);

    const enum registry_change want[] = {REG_CHANGE_CREATED,     REG_CHANGE_UPDATED,
                                         REG_CHANGE_CREDENTIALS, REG_CHANGE_DISABLED,
                                         REG_CHANGE_UPDATED,     REG_CHANGE_DELETED};
    assert_int_equal(f->nevents, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(f->events[i].device_id, "watched");
        assert_int_equal(f->events[i].change, want[i]);
    }

    registry_set_change_listener(f->reg, NULL, NULL);
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    assert_int_equal(f->nevents, 6);
}

/* ---- policies and settings --------------------------------------------------------- */

static void test_default_policies(void **state)
{
    struct fixture *f = *state;
    struct policy p;
    struct policy *list = NULL;
    size_t n = 9;
    assert_int_equal(registry_get_policy(f->reg, "iothubowner", &p), REG_NOT_FOUND);
    assert_int_equal(registry_list_policies(f->reg, &list, &n), REG_OK);
    assert_int_equal(n, 0);
    assert_null(list);

    assert_int_equal(registry_ensure_default_policies(f->reg), REG_OK);
    assert_int_equal(registry_list_policies(f->reg, &list, &n), REG_OK);
    assert_int_equal(n, 5);
    const struct {
        const char *name;
        unsigned rights;
    } want[] = {
        {"iothubowner",
         RIGHT_REGISTRY_READ | RIGHT_REGISTRY_WRITE | RIGHT_SERVICE_CONNECT | RIGHT_DEVICE_CONNECT},
        {"service", RIGHT_SERVICE_CONNECT},
        {"device", RIGHT_DEVICE_CONNECT},
        {"registryRead", RIGHT_REGISTRY_READ},
        {"registryReadWrite", RIGHT_REGISTRY_READ | RIGHT_REGISTRY_WRITE},
    };
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(list[i].name, want[i].name);
        assert_int_equal(list[i].rights, want[i].rights);
        assert_key_32_bytes(list[i].primary_key);
        assert_key_32_bytes(list[i].secondary_key);
        assert_string_not_equal(list[i].primary_key, list[i].secondary_key);
        if (i > 0)
            assert_string_not_equal(list[i].primary_key, list[0].primary_key);
    }

    assert_int_equal(registry_get_policy(f->reg, "IoTHubOwner", &p), REG_OK);
    assert_string_equal(p.name, "iothubowner");
    assert_string_equal(p.primary_key, list[0].primary_key);
    assert_int_equal(registry_get_policy(f->reg, "REGISTRYREADWRITE", &p), REG_OK);
    assert_string_equal(p.name, "registryReadWrite");
    assert_int_equal(registry_get_policy(f->reg, "registry", &p), REG_NOT_FOUND);

    /* Only when none exist: a second call keeps the keys. */
    assert_int_equal(registry_ensure_default_policies(f->reg), REG_OK);
    assert_int_equal(registry_get_policy(f->reg, "iothubowner", &p), REG_OK);
    assert_string_equal(p.primary_key, list[0].primary_key);
    reopen(f);
    assert_int_equal(registry_ensure_default_policies(f->reg), REG_OK);
    assert_int_equal(registry_get_policy(f->reg, "ioTHUBowner", &p), REG_OK);
    assert_string_equal(p.primary_key, list[0].primary_key);
    free(list);
}

static void test_settings(void **state)
{
    struct fixture *f = *state;
    char value[16] = "junk";
    assert_int_equal(registry_get_setting(f->reg, "hostname", value, sizeof(value)), REG_OK);
    assert_string_equal(value, "");
    assert_int_equal(registry_set_setting(f->reg, "hostname", "hub.local"), REG_OK);
    assert_int_equal(registry_set_setting(f->reg, "hostname", "hub2.local"), REG_OK);
    assert_int_equal(registry_get_setting(f->reg, "hostname", value, sizeof(value)), REG_OK);
    assert_string_equal(value, "hub2.local");
    assert_int_equal(registry_set_setting(f->reg, "long", "a value longer than 16 bytes"), REG_OK);
    assert_int_equal(registry_get_setting(f->reg, "long", value, sizeof(value)), REG_INVALID);
    assert_int_equal(registry_set_setting(f->reg, "", "x"), REG_INVALID);
}

/* ---- storage failures -------------------------------------------------------------- */

static void test_open_unwritable_path(void **state)
{
    struct fixture *f = *state;
    char notdir[160], path[200], err[512] = "";
    /* A regular file where a directory should be: fails even for root. */
    snprintf(notdir, sizeof(notdir), "%s/plain-file", f->dir);
    FILE *fp = fopen(notdir, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/registry.db", notdir);
    assert_null(registry_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, path));

    /* A directory where the database file should be. */
    err[0] = '\0';
    assert_null(registry_open(f->dir, err, sizeof(err)));
    assert_non_null(strstr(err, f->dir));
}

static void test_disk_full_is_reg_storage(void **state)
{
    struct fixture *f = *state;
    struct device in, out;
    /* Simulate a full disk: the database may not grow past its current size. */
    assert_int_equal(sqlite3_exec(f->reg->db, "PRAGMA max_page_count = 6", NULL, NULL, NULL),
                     SQLITE_OK);
    int rc = REG_OK, created = 0;
    char id[32];
    while (created < 2000) {
        snprintf(id, sizeof(id), "filler-%04d", created);
        in = sas_device(id);
        rc = registry_create_device(f->reg, &in, &out);
        if (rc != REG_OK)
            break;
        created++;
    }
    assert_int_equal(rc, REG_STORAGE);
    /* Nothing of the failed create is visible, in the database or the cache. */
    assert_int_equal(registry_get_device(f->reg, id, &out), REG_NOT_FOUND);
    struct device_auth auth;
    assert_int_equal(registry_get_device_auth(f->reg, id, &auth), REG_NOT_FOUND);
    struct registry_stats st;
    assert_int_equal(registry_statistics(f->reg, &st), REG_OK);
    assert_int_equal(st.total, created);
    /* Policies need room too: all or nothing. */
    rc = registry_ensure_default_policies(f->reg);
    struct policy *list = NULL;
    size_t n = 0;
    assert_int_equal(registry_list_policies(f->reg, &list, &n), REG_OK);
    assert_true((rc == REG_OK && n == 5) || (rc == REG_STORAGE && n == 0));
    free(list);

    /* Space again: the registry goes on working. */
    assert_int_equal(sqlite3_exec(f->reg->db, "PRAGMA max_page_count = 1000000", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(registry_create_device(f->reg, &in, &out), REG_OK);
    reopen(f);
    assert_int_equal(registry_get_device(f->reg, id, &out), REG_OK);
    assert_int_equal(registry_statistics(f->reg, &st), REG_OK);
    assert_int_equal(st.total, created + 1);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(registry_strerror(REG_OK), "ok");
    assert_string_equal(registry_strerror(REG_STORAGE), "storage failure");
    assert_non_null(registry_strerror(42));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_create_generates_keys_and_ids),
        T(test_create_keeps_given_keys_and_fields),
        T(test_create_exists_and_invalid),
        T(test_create_self_signed),
        T(test_generation_ids_unique_across_recreation),
        T(test_update_if_match_rules),
        T(test_update_keeps_keys_when_empty),
        T(test_update_status_and_cache),
        T(test_update_switches_auth_type),
        T(test_delete_rules),
        T(test_list_ordered_with_top),
        T(test_list_empty),
        T(test_statistics),
        T(test_connection_state_and_activity),
        T(test_persistence_across_reopen),
        T(test_concurrent_create_exactly_one_wins),
        T(test_auth_lookups_during_writes),
        T(test_change_listener_events),
        T(test_default_policies),
        T(test_settings),
        T(test_open_unwritable_path),
        T(test_disk_full_is_reg_storage),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
