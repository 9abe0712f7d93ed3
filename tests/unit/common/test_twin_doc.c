/* Twin documents (spec 3.5, 6.1): the patch checks and their limits, JSON merge with null
 * deletes, the $metadata tree, section $versions, twin etags and the wire shapes. The
 * desired patch is the one of fixtures/wire/https-twin-methods.txt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/twin_doc.h"

#define T0 1700000000000LL /* 2023-11-14T22:13:20.000Z */
#define T1 1700000001000LL

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v)
        fail_msg("bad test JSON: %s: %s", text, err.text);
    return v;
}

/* Asserts that v dumps (compact, sorted keys) to the same text as expected. */
static void assert_json(const json_t *v, const char *expected)
{
    json_t *e = parse(expected);
    char *a = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    char *b = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    if (strcmp(a, b) != 0)
        fail_msg("got %s\nwant %s", a, b);
    free(a);
    free(b);
    json_decref(e);
}

static bool check(const char *text, enum twin_section s, char *why)
{
    json_t *v = parse(text);
    bool ok = twin_check_patch(v, s, why, TWIN_WHY_SIZE);
    json_decref(v);
    return ok;
}

static void test_init_is_the_empty_twin(void **state)
{
    (void)state;
    struct twin_doc d;
    assert_int_equal(twin_doc_init(&d, T0), 0);
    assert_int_equal(d.version, 1);
    assert_int_equal(d.etag, 1);
    assert_int_equal(d.desired_version, 1);
    assert_int_equal(d.reported_version, 1);
    assert_json(d.tags, "{}");
    json_t *desired = twin_section_json(&d, TWIN_DESIRED, true);
    assert_json(desired, "{\"$metadata\":{\"$lastUpdated\":\"2023-11-14T22:13:20.000Z\"},"
                         "\"$version\":1}");
    json_decref(desired);
    twin_doc_free(&d);
}

static void test_etag(void **state)
{
    (void)state;
    char etag[TWIN_ETAG_SIZE];
    twin_etag_format(1, etag);
    assert_string_equal(etag, "AAAAAAAAAAE=");
    twin_etag_format(2, etag);
    assert_string_equal(etag, "AAAAAAAAAAI=");
    twin_etag_format(0x0102030405060708LL, etag);
    assert_string_equal(etag, "AQIDBAUGBwg=");
    assert_true(twin_etag_matches(NULL, 5));
    assert_true(twin_etag_matches("*", 5));
    assert_true(twin_etag_matches("\"*\"", 5));
    assert_true(twin_etag_matches("AAAAAAAAAAE=", 1));
    assert_true(twin_etag_matches("\"AAAAAAAAAAE=\"", 1));
    assert_true(twin_etag_matches("W/\"AAAAAAAAAAE=\"", 1));
    assert_false(twin_etag_matches("\"AAAAAAAAAAE=\"", 2));
    assert_false(twin_etag_matches("", 1));
    assert_false(twin_etag_matches("\"", 1));
}

static void test_keys(void **state)
{
    (void)state;
    char why[TWIN_WHY_SIZE];
    assert_true(check("{\"telemetryInterval\":30}", TWIN_DESIRED, why));
    assert_true(check("{\"ünïcode-_:#\":1}", TWIN_TAGS, why));
    assert_false(check("{\"a.b\":1}", TWIN_DESIRED, why));
    assert_non_null(strstr(why, "'a.b'"));
    assert_false(check("{\"a$\":1}", TWIN_DESIRED, why));
    assert_false(check("{\"a b\":1}", TWIN_REPORTED, why));
    assert_false(check("{\"a\\u0001\":1}", TWIN_TAGS, why));
    assert_false(check("{\"a\\u007f\":1}", TWIN_TAGS, why));
    assert_false(check("{\"\":1}", TWIN_TAGS, why));
    assert_false(check("{\"ok\":{\"bad.key\":1}}", TWIN_TAGS, why));
    assert_false(check("{\"ok\":[{\"bad key\":1}]}", TWIN_TAGS, why));
    /* System members only at the top of desired/reported. */
    assert_true(check("{\"$version\":4,\"$metadata\":{},\"a\":1}", TWIN_DESIRED, why));
    assert_true(check("{\"$version\":4}", TWIN_REPORTED, why));
    assert_false(check("{\"$version\":4}", TWIN_TAGS, why));
    assert_false(check("{\"a\":{\"$version\":4}}", TWIN_DESIRED, why));
    assert_false(check("[1]", TWIN_DESIRED, why));
    assert_false(check("null", TWIN_TAGS, why));
    assert_null(strchr(why, ';'));

    char key[TWIN_KEY_MAX + 16];
    memset(key, 'k', TWIN_KEY_MAX);
    key[TWIN_KEY_MAX] = '\0';
    json_t *v = json_pack("{s:i}", key, 1);
    assert_true(twin_check_patch(v, TWIN_TAGS, why, sizeof(why)));
    json_decref(v);
    key[TWIN_KEY_MAX] = 'k';
    key[TWIN_KEY_MAX + 1] = '\0';
    v = json_pack("{s:i}", key, 1);
    assert_false(twin_check_patch(v, TWIN_TAGS, why, sizeof(why)));
    assert_true(strlen(why) < 200); /* the key is cut short in the reason */
    json_decref(v);
    /* ... between two UTF-8 characters, whatever the cut: the reason goes into JSON. */
    for (size_t skip = 0; skip < 3; skip++) {
        char wide[2 * TWIN_KEY_MAX + 8];
        size_t n = 0;
        for (size_t i = 0; i < skip; i++)
            wide[n++] = 'a';
        while (n < sizeof(wide) - 3) {
            wide[n++] = (char)0xC3; /* e acute */
            wide[n++] = (char)0xA9;
        }
        wide[n] = '\0';
        v = json_pack("{s:i}", wide, 1);
        assert_non_null(v);
        assert_false(twin_check_patch(v, TWIN_TAGS, why, sizeof(why)));
        json_t *text = json_string(why);
        assert_non_null(text);
        json_decref(text);
        json_decref(v);
    }
}

static void test_values(void **state)
{
    (void)state;
    char why[TWIN_WHY_SIZE];
    assert_true(check("{\"n\":4503599627370495,\"m\":-4503599627370496,\"r\":1.5e300,"
                      "\"b\":true,\"z\":null,\"a\":[1,\"x\",null,{\"k\":1}]}",
                      TWIN_DESIRED, why));
    assert_false(check("{\"n\":4503599627370496}", TWIN_DESIRED, why));
    assert_false(check("{\"n\":-4503599627370497}", TWIN_DESIRED, why));
    assert_false(check("{\"a\":[4503599627370496]}", TWIN_TAGS, why));

    char *s = malloc(TWIN_STRING_MAX + 2);
    memset(s, 'x', TWIN_STRING_MAX + 1);
    s[TWIN_STRING_MAX] = '\0';
    json_t *v = json_pack("{s:s}", "s", s);
    assert_true(twin_check_patch(v, TWIN_REPORTED, why, sizeof(why)));
    json_decref(v);
    s[TWIN_STRING_MAX] = 'x';
    s[TWIN_STRING_MAX + 1] = '\0';
    v = json_pack("{s:s}", "s", s);
    assert_false(twin_check_patch(v, TWIN_REPORTED, why, sizeof(why)));
    json_decref(v);
    free(s);
}

/* {"l1":{"l2":...}} with n objects below the section object. */
static json_t *nested(int n)
{
    json_t *v = json_string("leaf");
    for (int i = n; i >= 1; i--) {
        char k[16];
        snprintf(k, sizeof(k), "l%d", i);
        json_t *o = json_object();
        json_object_set_new(o, k, v);
        v = o;
    }
    json_t *top = json_object();
    json_object_set_new(top, "deep", v);
    return top;
}

static void test_depth(void **state)
{
    (void)state;
    char why[TWIN_WHY_SIZE];
    /* nested(n): the innermost object is n levels below the section. */
    json_t *ok = nested(TWIN_DEPTH_MAX);
    assert_true(twin_check_patch(ok, TWIN_TAGS, why, sizeof(why)));
    json_t *bad = nested(TWIN_DEPTH_MAX + 1);
    assert_false(twin_check_patch(bad, TWIN_TAGS, why, sizeof(why)));
    assert_non_null(strstr(why, "deeper"));
    json_decref(ok);
    json_decref(bad);
}

static void test_merge_and_metadata(void **state)
{
    (void)state;
    struct twin_doc d;
    assert_int_equal(twin_doc_init(&d, T0), 0);
    json_t *p = parse("{\"properties\":{\"desired\":{\"telemetryInterval\":30}}}");
    json_t *desired = json_object_get(json_object_get(p, "properties"), "desired");
    assert_int_equal(twin_doc_patch(&d, TWIN_DESIRED, desired, T0), 0);
    twin_doc_bump(&d);
    json_decref(p);
    assert_int_equal(d.desired_version, 2);
    assert_int_equal(d.version, 2);
    assert_int_equal(d.etag, 2);
    assert_json(d.desired, "{\"telemetryInterval\":30}");
    assert_json(d.desired_meta,
                "{\"$lastUpdated\":\"2023-11-14T22:13:20.000Z\",\"$lastUpdatedVersion\":2,"
                "\"telemetryInterval\":{\"$lastUpdated\":\"2023-11-14T22:13:20.000Z\","
                "\"$lastUpdatedVersion\":2}}");

    p = parse("{\"telemetryInterval\":null,\"mode\":{\"a\":1,\"b\":{\"c\":2}},\"$version\":9}");
    assert_int_equal(twin_doc_patch(&d, TWIN_DESIRED, p, T1), 0);
    json_decref(p);
    p = parse("{\"mode\":{\"b\":{\"c\":null,\"d\":[1,2]},\"a\":null,\"e\":\"x\"}}");
    assert_int_equal(twin_doc_patch(&d, TWIN_DESIRED, p, T1), 0);
    json_decref(p);
    assert_int_equal(d.desired_version, 4);
    assert_json(d.desired, "{\"mode\":{\"b\":{\"d\":[1,2]},\"e\":\"x\"}}");
    json_t *mode = json_object_get(d.desired_meta, "mode");
    assert_int_equal(json_integer_value(json_object_get(mode, "$lastUpdatedVersion")), 4);
    assert_null(json_object_get(mode, "a"));
    assert_non_null(json_object_get(json_object_get(mode, "b"), "d"));
    assert_null(json_object_get(json_object_get(mode, "b"), "c"));
    assert_null(json_object_get(d.desired_meta, "telemetryInterval"));

    /* A leaf replaced by an object gets a metadata subtree; reported carries no
     * $lastUpdatedVersion; tags no metadata at all. */
    p = parse("{\"fw\":\"1.0\"}");
    assert_int_equal(twin_doc_patch(&d, TWIN_REPORTED, p, T0), 0);
    json_decref(p);
    p = parse("{\"fw\":{\"major\":1,\"skip\":null}}");
    assert_int_equal(twin_doc_patch(&d, TWIN_REPORTED, p, T1), 0);
    json_decref(p);
    assert_json(d.reported, "{\"fw\":{\"major\":1}}");
    assert_json(d.reported_meta,
                "{\"$lastUpdated\":\"2023-11-14T22:13:21.000Z\",\"fw\":{\"$lastUpdated\":"
                "\"2023-11-14T22:13:21.000Z\",\"major\":{\"$lastUpdated\":"
                "\"2023-11-14T22:13:21.000Z\"}}}");
    assert_int_equal(d.reported_version, 3);
    p = parse("{\"a\":{\"b\":1}}");
    assert_int_equal(twin_doc_patch(&d, TWIN_TAGS, p, T1), 0);
    json_decref(p);
    assert_json(d.tags, "{\"a\":{\"b\":1}}");
    twin_doc_free(&d);
}

static void test_replace(void **state)
{
    (void)state;
    struct twin_doc d;
    assert_int_equal(twin_doc_init(&d, T0), 0);
    json_t *p = parse("{\"a\":1,\"b\":{\"c\":2}}");
    assert_int_equal(twin_doc_patch(&d, TWIN_DESIRED, p, T0), 0);
    json_decref(p);
    p = parse("{\"z\":true,\"gone\":null}");
    assert_int_equal(twin_doc_replace(&d, TWIN_DESIRED, p, T1), 0);
    json_decref(p);
    assert_json(d.desired, "{\"z\":true}");
    assert_json(d.desired_meta,
                "{\"$lastUpdated\":\"2023-11-14T22:13:21.000Z\",\"$lastUpdatedVersion\":3,"
                "\"z\":{\"$lastUpdated\":\"2023-11-14T22:13:21.000Z\",\"$lastUpdatedVersion\":3}}");
    assert_int_equal(d.desired_version, 3);
    twin_doc_free(&d);
}

static void test_sizes(void **state)
{
    (void)state;
    char why[TWIN_WHY_SIZE];
    struct twin_doc d;
    assert_int_equal(twin_doc_init(&d, T0), 0);
    /* {"t":"xxx..."} is 8 bytes of JSON around the string. */
    char *s = malloc(TWIN_PROPS_MAX);
    memset(s, 'x', TWIN_TAGS_MAX - 8);
    s[TWIN_TAGS_MAX - 8] = '\0';
    json_object_set_new(d.tags, "t", json_string(s));
    assert_int_equal(twin_section_size(&d, TWIN_TAGS), TWIN_TAGS_MAX);
    assert_true(twin_doc_check_sizes(&d, why, sizeof(why)));
    json_object_set_new(d.tags, "u", json_integer(1));
    assert_false(twin_doc_check_sizes(&d, why, sizeof(why)));
    assert_non_null(strstr(why, "tags"));
    json_object_clear(d.tags);
    for (int i = 0; i < 9; i++) {
        char k[8];
        snprintf(k, sizeof(k), "r%d", i);
        memset(s, 'x', 4000);
        s[4000] = '\0';
        json_object_set_new(d.reported, k, json_string(s));
    }
    assert_false(twin_doc_check_sizes(&d, why, sizeof(why)));
    assert_non_null(strstr(why, "properties.reported"));
    /* System members do not count. */
    json_object_clear(d.reported);
    assert_true(twin_doc_check_sizes(&d, why, sizeof(why)));
    free(s);
    twin_doc_free(&d);
}

static void test_wire_shapes(void **state)
{
    (void)state;
    struct twin_doc d;
    assert_int_equal(twin_doc_init(&d, T0), 0);
    json_t *p = parse("{\"telemetryInterval\":10}");
    assert_int_equal(twin_doc_patch(&d, TWIN_DESIRED, p, T0), 0);
    json_decref(p);
    json_t *s = twin_section_json(&d, TWIN_DESIRED, false);
    char *text = json_dumps(s, JSON_COMPACT);
    /* As the MQTT GET answer shows it (fixtures/wire/mqtt-twin.txt): $version last. */
    assert_string_equal(text, "{\"telemetryInterval\":10,\"$version\":2}");
    free(text);
    json_decref(s);

    p = parse("{\"telemetrySendFrequency\":\"5m\",\"route\":null,\"$metadata\":{}}");
    json_t *n = twin_notification_json(p, 8);
    text = json_dumps(n, JSON_COMPACT);
    assert_string_equal(text, "{\"telemetrySendFrequency\":\"5m\",\"route\":null,\"$version\":8}");
    free(text);
    json_decref(n);
    json_decref(p);
    twin_doc_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_the_empty_twin),
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_merge_and_metadata),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_wire_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
