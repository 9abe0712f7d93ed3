/* Device twins in the embedded registry (store/twin_store.h): the empty twin of a device
 * without a row, atomic read-modify-write with If-Match inside the transaction, nothing
 * stored on a rejected edit or a full disk, the twin going with its device, and the
 * desired catch-up of a persistent session. Each test has its own database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/isotime.h"
#include "store/registry.h"
#include "store/registry_sqlite/internal.h"
#include "store/twin_store.h"
#include "store/scratch_dir.h"

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

static void create(struct fixture *f, const char *id)
{
    struct device d, out;
    memset(&d, 0, sizeof(d));
    snprintf(d.device_id, sizeof(d.device_id), "%s", id);
    d.enabled = true;
    d.auth_type = DEVICE_AUTH_SAS;
    assert_int_equal(registry_create_device(f->reg, &d, &out), REG_OK);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (scratch_dir_make(f->dir, sizeof(f->dir), "twin-store") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
    f->reg = open_or_die(f->path);
    create(f, "dev1");
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
    f->reg = open_or_die(f->path);
}

/* An edit that merges `patch` into `section` and bumps, or returns `verdict`. */
struct edit {
    enum twin_section section;
    const char *patch;
    enum twin_edit verdict; /* TWIN_EDIT_CHANGED = apply the patch */
    int calls;
};

static enum twin_edit run_edit(struct twin_doc *d, int64_t now_ms, void *ctx)
{
    struct edit *e = ctx;
    e->calls++;
    if (e->verdict != TWIN_EDIT_CHANGED)
        return e->verdict;
    json_t *p = json_loads(e->patch, 0, NULL);
    assert_non_null(p);
    int rc = twin_doc_patch(d, e->section, p, now_ms);
    json_decref(p);
    if (rc != 0)
        return TWIN_EDIT_FAILED;
    twin_doc_bump(d);
    return TWIN_EDIT_CHANGED;
}

static int update(struct fixture *f, const char *if_match, enum twin_section s, const char *patch,
                  struct twin_doc *out)
{
    struct edit e = {s, patch, TWIN_EDIT_CHANGED, 0};
    return twin_store_update(f->reg, "dev1", if_match, run_edit, &e, out);
}

static void assert_json_text(const json_t *v, const char *expected)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, expected);
    free(text);
}

static void test_empty_twin_and_unknown_device(void **state)
{
    struct fixture *f = *state;
    struct twin_doc d;
    assert_int_equal(twin_store_get(f->reg, "nobody", &d), REG_NOT_FOUND);
    struct edit e = {TWIN_TAGS, "{}", TWIN_EDIT_CHANGED, 0};
    assert_int_equal(twin_store_update(f->reg, "nobody", NULL, run_edit, &e, NULL), REG_NOT_FOUND);
    assert_int_equal(e.calls, 0);

    int64_t before = time_now_ms();
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_int_equal(d.version, 1);
    assert_int_equal(d.etag, 1);
    assert_int_equal(d.desired_version, 1);
    assert_int_equal(d.reported_version, 1);
    assert_json_text(d.tags, "{}");
    assert_json_text(d.desired, "{}");
    /* Stamped with the device's creation time, not the time of reading. */
    int64_t stamp;
    assert_int_equal(
        isotime_parse(json_string_value(json_object_get(d.desired_meta, "$lastUpdated")), &stamp),
        0);
    assert_true(stamp <= before && stamp > before - 60000);
    twin_doc_free(&d);
}

static void test_update_persists(void **state)
{
    struct fixture *f = *state;
    struct twin_doc d;
    assert_int_equal(update(f, "\"*\"", TWIN_DESIRED, "{\"interval\":30}", &d), REG_OK);
    assert_int_equal(d.version, 2);
    assert_int_equal(d.desired_version, 2);
    twin_doc_free(&d);
    assert_int_equal(update(f, "\"AAAAAAAAAAI=\"", TWIN_REPORTED, "{\"fw\":\"1.0\"}", NULL),
                     REG_OK);
    assert_int_equal(update(f, NULL, TWIN_TAGS, "{\"room\":\"b43\"}", NULL), REG_OK);
    reopen(f);
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_int_equal(d.version, 4);
    assert_int_equal(d.etag, 4);
    assert_int_equal(d.desired_version, 2);
    assert_int_equal(d.reported_version, 2);
    assert_json_text(d.desired, "{\"interval\":30}");
    assert_json_text(d.reported, "{\"fw\":\"1.0\"}");
    assert_json_text(d.tags, "{\"room\":\"b43\"}");
    assert_non_null(json_object_get(d.desired_meta, "interval"));
    twin_doc_free(&d);
}

static void test_etag_checked_inside(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(update(f, NULL, TWIN_TAGS, "{\"a\":1}", NULL), REG_OK);
    struct edit e = {TWIN_TAGS, "{\"a\":2}", TWIN_EDIT_CHANGED, 0};
    assert_int_equal(twin_store_update(f->reg, "dev1", "\"AAAAAAAAAAE=\"", run_edit, &e, NULL),
                     REG_PRECONDITION);
    assert_int_equal(e.calls, 0);
    struct twin_doc d;
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_json_text(d.tags, "{\"a\":1}");
    twin_doc_free(&d);
}

static void test_verdicts(void **state)
{
    struct fixture *f = *state;
    struct twin_doc d;
    struct edit e = {TWIN_TAGS, "{}", TWIN_EDIT_REJECTED, 0};
    assert_int_equal(twin_store_update(f->reg, "dev1", NULL, run_edit, &e, &d), REG_INVALID);
    e.verdict = TWIN_EDIT_FAILED;
    assert_int_equal(twin_store_update(f->reg, "dev1", NULL, run_edit, &e, &d), REG_STORAGE);
    e.verdict = TWIN_EDIT_UNCHANGED;
    assert_int_equal(twin_store_update(f->reg, "dev1", NULL, run_edit, &e, &d), REG_OK);
    assert_int_equal(d.version, 1);
    twin_doc_free(&d);
    assert_int_equal(e.calls, 3);
}

static void test_twin_goes_with_the_device(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(update(f, NULL, TWIN_TAGS, "{\"a\":1}", NULL), REG_OK);
    assert_int_equal(registry_delete_device(f->reg, "dev1", NULL), REG_OK);
    struct twin_doc d;
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_NOT_FOUND);
    create(f, "dev1");
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_json_text(d.tags, "{}");
    assert_int_equal(d.version, 1);
    twin_doc_free(&d);
}

/* The model id a device connects with: stored beside the twin without moving its versions
 * or etag, kept across a reopen and across twin changes, replaced by another, gone with the
 * device. */
static void test_model_id(void **state)
{
    struct fixture *f = *state;
    struct twin_doc d;
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_null(d.model_id);
    twin_doc_free(&d);
    assert_int_equal(twin_store_set_model_id(f->reg, "dev1", "dtmi:com:example:Thermostat;1"),
                     REG_OK);
    assert_int_equal(twin_store_set_model_id(f->reg, "dev1", "dtmi:com:example:Thermostat;1"),
                     REG_OK); /* unchanged: nothing written */
    assert_int_equal(twin_store_set_model_id(f->reg, "dev1", ""), REG_INVALID);
    assert_int_equal(twin_store_set_model_id(f->reg, "nobody", "dtmi:x;1"), REG_NOT_FOUND);
    assert_int_equal(update(f, NULL, TWIN_TAGS, "{\"a\":1}", NULL), REG_OK);
    reopen(f);
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_string_equal(d.model_id, "dtmi:com:example:Thermostat;1");
    assert_int_equal(d.version, 2); /* the tags change only */
    assert_int_equal(d.etag, 2);
    assert_json_text(d.tags, "{\"a\":1}");
    twin_doc_free(&d);
    assert_int_equal(twin_store_set_model_id(f->reg, "dev1", "dtmi:com:example:Other;2"), REG_OK);
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_string_equal(d.model_id, "dtmi:com:example:Other;2");
    assert_int_equal(d.version, 2);
    twin_doc_free(&d);
    assert_int_equal(registry_delete_device(f->reg, "dev1", NULL), REG_OK);
    create(f, "dev1");
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_null(d.model_id);
    twin_doc_free(&d);
}

static void test_disk_full_changes_nothing(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(update(f, NULL, TWIN_TAGS, "{\"a\":1}", NULL), REG_OK);
    /* The database may not grow: a large twin cannot be stored. */
    assert_int_equal(sqlite3_exec(f->reg->db, "PRAGMA max_page_count = 1", NULL, NULL, NULL),
                     SQLITE_OK);
    char *big = malloc(30000);
    snprintf(big, 30000, "{\"big\":\"%0*d\"}", 20000, 7);
    assert_int_equal(update(f, NULL, TWIN_DESIRED, big, NULL), REG_STORAGE);
    struct twin_doc d;
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_int_equal(d.version, 2);
    assert_json_text(d.desired, "{}");
    twin_doc_free(&d);
    assert_int_equal(sqlite3_exec(f->reg->db, "PRAGMA max_page_count = 1000000", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(update(f, NULL, TWIN_DESIRED, big, NULL), REG_OK);
    free(big);
    reopen(f);
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_int_equal(d.version, 3);
    twin_doc_free(&d);
}

static json_t *catch_up(struct fixture *f)
{
    json_t *whole = NULL;
    assert_int_equal(twin_store_desired_catch_up(f->reg, "dev1", &whole), REG_OK);
    return whole;
}

static void test_desired_catch_up(void **state)
{
    struct fixture *f = *state;
    json_t *whole;
    assert_int_equal(twin_store_desired_catch_up(f->reg, "nobody", &whole), REG_NOT_FOUND);
    assert_null(whole);
    /* The first (re)connect only records where the device starts. */
    assert_null(catch_up(f));
    assert_null(catch_up(f));

    /* Away for two changes, then back: the whole desired document, once, after a restart
     * too. */
    assert_int_equal(update(f, NULL, TWIN_DESIRED, "{\"a\":1}", NULL), REG_OK);
    assert_int_equal(update(f, NULL, TWIN_DESIRED, "{\"a\":null,\"b\":2}", NULL), REG_OK);
    reopen(f);
    whole = catch_up(f);
    assert_non_null(whole);
    assert_json_text(whole, "{\"$version\":3,\"b\":2}");
    json_decref(whole);
    assert_null(catch_up(f));

    /* Tags and reported changes do not count. */
    assert_int_equal(update(f, NULL, TWIN_TAGS, "{\"t\":1}", NULL), REG_OK);
    assert_int_equal(update(f, NULL, TWIN_REPORTED, "{\"r\":1}", NULL), REG_OK);
    assert_null(catch_up(f));

    /* Recording leaves the twin's versions and etag alone. */
    struct twin_doc d;
    assert_int_equal(twin_store_get(f->reg, "dev1", &d), REG_OK);
    assert_int_equal(d.version, 5);
    assert_int_equal(d.etag, 5);
    assert_int_equal(d.desired_version, 3);
    twin_doc_free(&d);

    /* A write the registry cannot make: nothing recorded, the catch-up comes on the next
     * connect. */
    assert_int_equal(update(f, NULL, TWIN_DESIRED, "{\"c\":3}", NULL), REG_OK);
    assert_int_equal(sqlite3_exec(f->reg->db, "PRAGMA query_only = 1", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(twin_store_desired_catch_up(f->reg, "dev1", &whole), REG_STORAGE);
    assert_null(whole);
    assert_int_equal(sqlite3_exec(f->reg->db, "PRAGMA query_only = 0", NULL, NULL, NULL),
                     SQLITE_OK);
    whole = catch_up(f);
    assert_json_text(whole, "{\"$version\":4,\"b\":2,\"c\":3}");
    json_decref(whole);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_empty_twin_and_unknown_device),
        T(test_update_persists),
        T(test_etag_checked_inside),
        T(test_verdicts),
        T(test_twin_goes_with_the_device),
        T(test_disk_full_changes_nothing),
        T(test_desired_catch_up),
        T(test_model_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
