/* Consumer groups of the embedded registry (store/registry.h): "$Default" always there and
 * undeletable, case-insensitive names with the created spelling kept, validation, order,
 * persistence across reopen, and the migration from a schema-002 database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "store/registry.h"
#include "store/registry_sqlite/internal.h"
#include "store/scratch_dir.h"

typedef char group_name[CONSUMER_GROUP_NAME_MAX + 1];

struct fixture {
    char dir[64];
    char path[128];
    struct registry *reg;
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
    if (scratch_dir_make(f->dir, sizeof(f->dir), "cg") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
    f->reg = open_or_die(f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    registry_close(f->reg);
    scratch_dir_remove(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    registry_close(f->reg);
    f->reg = NULL; /* a failed open must not leave teardown a closed registry */
    f->reg = open_or_die(f->path);
}

/* The list as one comma-separated string, for compact assertions. */
static void list_text(struct registry *reg, char *out, size_t cap)
{
    group_name *list = NULL;
    size_t n = 0;
    assert_int_equal(registry_consumer_group_list(reg, &list, &n), REG_OK);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s%s", i ? "," : "", list[i]);
    }
    free(list);
}

static void test_default_always_exists(void **state)
{
    struct fixture *f = *state;
    char canonical[CONSUMER_GROUP_NAME_MAX + 1] = "";
    char text[512];
    assert_int_equal(registry_consumer_group_get(f->reg, "$Default", canonical, sizeof(canonical)),
                     REG_OK);
    assert_string_equal(canonical, "$Default");
    /* The spelling of @azure/event-hubs. */
    assert_int_equal(registry_consumer_group_get(f->reg, "$default", canonical, sizeof(canonical)),
                     REG_OK);
    assert_string_equal(canonical, "$Default");
    assert_int_equal(registry_consumer_group_get(f->reg, "$DEFAULT", NULL, 0), REG_OK);
    list_text(f->reg, text, sizeof(text));
    assert_string_equal(text, "$Default");

    assert_int_equal(registry_consumer_group_create(f->reg, "$Default"), REG_EXISTS);
    assert_int_equal(registry_consumer_group_create(f->reg, "$default"), REG_EXISTS);
    assert_int_equal(registry_consumer_group_delete(f->reg, "$Default"), REG_INVALID);
    assert_int_equal(registry_consumer_group_delete(f->reg, "$default"), REG_INVALID);
    assert_int_equal(registry_consumer_group_get(f->reg, "$Default", NULL, 0), REG_OK);
}

static void test_create_get_delete(void **state)
{
    struct fixture *f = *state;
    char canonical[CONSUMER_GROUP_NAME_MAX + 1];
    assert_int_equal(registry_consumer_group_get(f->reg, "dashboards", NULL, 0), REG_NOT_FOUND);
    assert_int_equal(registry_consumer_group_create(f->reg, "Dashboards"), REG_OK);
    assert_int_equal(
        registry_consumer_group_get(f->reg, "dashboards", canonical, sizeof(canonical)), REG_OK);
    assert_string_equal(canonical, "Dashboards"); /* the spelling given at creation */
    assert_int_equal(registry_consumer_group_get(f->reg, "DASHBOARDS", NULL, 0), REG_OK);
    assert_int_equal(registry_consumer_group_create(f->reg, "dashboards"), REG_EXISTS);
    assert_int_equal(registry_consumer_group_create(f->reg, "Dashboards"), REG_EXISTS);
    /* Too small for the canonical spelling. */
    assert_int_equal(registry_consumer_group_get(f->reg, "dashboards", canonical, 4), REG_INVALID);

    assert_int_equal(registry_consumer_group_delete(f->reg, "DASHboards"), REG_OK);
    assert_int_equal(registry_consumer_group_get(f->reg, "Dashboards", NULL, 0), REG_NOT_FOUND);
    assert_int_equal(registry_consumer_group_delete(f->reg, "Dashboards"), REG_NOT_FOUND);
    assert_int_equal(registry_consumer_group_delete(f->reg, "never-made"), REG_NOT_FOUND);
    /* Made again after a delete. */
    assert_int_equal(registry_consumer_group_create(f->reg, "dashboards"), REG_OK);
    assert_int_equal(
        registry_consumer_group_get(f->reg, "Dashboards", canonical, sizeof(canonical)), REG_OK);
    assert_string_equal(canonical, "dashboards");
}

static void test_names_validated(void **state)
{
    struct fixture *f = *state;
    char longest[CONSUMER_GROUP_NAME_MAX + 1], too_long[CONSUMER_GROUP_NAME_MAX + 2];
    memset(longest, 'a', CONSUMER_GROUP_NAME_MAX);
    longest[CONSUMER_GROUP_NAME_MAX] = '\0';
    memset(too_long, 'b', CONSUMER_GROUP_NAME_MAX + 1);
    too_long[CONSUMER_GROUP_NAME_MAX + 1] = '\0';
    const char *bad[] = {"",  "has space",  "slash/name", "$other",
                         "é", "semi;colon", "a*",         too_long};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(registry_consumer_group_create(f->reg, bad[i]), REG_INVALID);
        assert_int_equal(registry_consumer_group_get(f->reg, bad[i], NULL, 0), REG_NOT_FOUND);
        assert_int_equal(registry_consumer_group_delete(f->reg, bad[i]), REG_INVALID);
    }
    assert_int_equal(registry_consumer_group_create(f->reg, NULL), REG_INVALID);
    assert_int_equal(registry_consumer_group_get(f->reg, NULL, NULL, 0), REG_INVALID);
    assert_int_equal(registry_consumer_group_create(f->reg, longest), REG_OK);
    assert_int_equal(registry_consumer_group_create(f->reg, "a.b_c-D9"), REG_OK);
    assert_int_equal(registry_consumer_group_create(f->reg, "7"), REG_OK);
    assert_int_equal(registry_consumer_group_get(f->reg, longest, NULL, 0), REG_OK);
}

static void test_list_order(void **state)
{
    struct fixture *f = *state;
    char text[512];
    const char *names[] = {"zeta", "Alpha", "beta", "_under", "Gamma", "0first", "alpha2"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_int_equal(registry_consumer_group_create(f->reg, names[i]), REG_OK);
    list_text(f->reg, text, sizeof(text));
    assert_string_equal(text, "$Default,0first,_under,Alpha,alpha2,beta,Gamma,zeta");
    assert_int_equal(registry_consumer_group_delete(f->reg, "ALPHA"), REG_OK);
    assert_int_equal(registry_consumer_group_delete(f->reg, "zeta"), REG_OK);
    list_text(f->reg, text, sizeof(text));
    assert_string_equal(text, "$Default,0first,_under,alpha2,beta,Gamma");
    /* Served from the same order after a restart. */
    reopen(f);
    list_text(f->reg, text, sizeof(text));
    assert_string_equal(text, "$Default,0first,_under,alpha2,beta,Gamma");
}

static void test_persistence(void **state)
{
    struct fixture *f = *state;
    char canonical[CONSUMER_GROUP_NAME_MAX + 1];
    assert_int_equal(registry_consumer_group_create(f->reg, "Keep"), REG_OK);
    assert_int_equal(registry_consumer_group_create(f->reg, "gone"), REG_OK);
    assert_int_equal(registry_consumer_group_delete(f->reg, "gone"), REG_OK);
    reopen(f);
    assert_int_equal(registry_consumer_group_get(f->reg, "keep", canonical, sizeof(canonical)),
                     REG_OK);
    assert_string_equal(canonical, "Keep");
    assert_int_equal(registry_consumer_group_get(f->reg, "gone", NULL, 0), REG_NOT_FOUND);
    assert_int_equal(registry_consumer_group_create(f->reg, "KEEP"), REG_EXISTS);
}

/* A database made by a build that knew migrations 001 and 002 only gets the table. */
static void test_migration_from_002(void **state)
{
    struct fixture *f = *state;
    char text[256], sql[128];
    /* A database as a version-2 build left it: migrations 1 and 2 only. */
    registry_close(f->reg);
    f->reg = NULL;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(sql, sizeof(sql), "%s%s", f->path, suffixes[i]);
        unlink(sql);
    }
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE schema_migrations (version INTEGER NOT NULL"
                                  " PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(rs_migrations[i].version, (int)i + 1);
        assert_int_equal(sqlite3_exec(db, rs_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
        snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES (%d, 'old', 0)",
                 rs_migrations[i].version);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    f->reg = open_or_die(f->path); /* applies 3 and everything after it */
    assert_int_equal(registry_consumer_group_create(f->reg, "after-upgrade"), REG_OK);
    reopen(f);
    list_text(f->reg, text, sizeof(text));
    assert_string_equal(text, "$Default,after-upgrade");
}

/* The cache and the table stay one: a write the disk refuses changes neither. */
static void test_storage_failure_changes_nothing(void **state)
{
    struct fixture *f = *state;
    char text[256];
    assert_int_equal(registry_consumer_group_create(f->reg, "kept"), REG_OK);
    assert_int_equal(sqlite3_exec(f->reg->db,
                                  "CREATE TRIGGER refuse BEFORE INSERT ON"
                                  " consumer_groups BEGIN SELECT RAISE(FAIL, 'no');"
                                  " END;"
                                  "CREATE TRIGGER refuse_delete BEFORE DELETE ON"
                                  " consumer_groups BEGIN SELECT RAISE(FAIL, 'no');"
                                  " END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(registry_consumer_group_create(f->reg, "refused"), REG_STORAGE);
    assert_int_equal(registry_consumer_group_get(f->reg, "refused", NULL, 0), REG_NOT_FOUND);
    assert_int_equal(registry_consumer_group_delete(f->reg, "kept"), REG_STORAGE);
    assert_int_equal(registry_consumer_group_get(f->reg, "kept", NULL, 0), REG_OK);
    list_text(f->reg, text, sizeof(text));
    assert_string_equal(text, "$Default,kept");
    assert_int_equal(sqlite3_exec(f->reg->db, "DROP TRIGGER refuse; DROP TRIGGER refuse_delete",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    reopen(f);
    list_text(f->reg, text, sizeof(text));
    assert_string_equal(text, "$Default,kept");
}

struct race {
    struct registry *reg;
    pthread_barrier_t *start;
    int created;
};

static void *race_create(void *arg)
{
    struct race *r = arg;
    pthread_barrier_wait(r->start);
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof(name), "group-%d", i);
        if (registry_consumer_group_create(r->reg, name) == REG_OK)
            r->created++;
        /* Lookups never fail while writers run. */
        if (registry_consumer_group_get(r->reg, "$default", NULL, 0) != REG_OK)
            r->created = -1000;
    }
    return NULL;
}

static void test_concurrent_creates(void **state)
{
    struct fixture *f = *state;
    pthread_barrier_t start;
    pthread_t th[4];
    struct race races[4];
    pthread_barrier_init(&start, NULL, 4);
    for (int i = 0; i < 4; i++) {
        races[i] = (struct race){.reg = f->reg, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, race_create, &races[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += races[i].created;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(total, 20); /* each name made exactly once */
    group_name *list = NULL;
    size_t n = 0;
    assert_int_equal(registry_consumer_group_list(f->reg, &list, &n), REG_OK);
    assert_int_equal(n, 21);
    free(list);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_default_always_exists),
        T(test_create_get_delete),
        T(test_names_validated),
        T(test_list_order),
        T(test_persistence),
        T(test_migration_from_002),
        T(test_storage_failure_changes_nothing),
        T(test_concurrent_creates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
