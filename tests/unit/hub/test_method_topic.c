/* Direct-method topics (spec 2.9): method names, rids, the request topic the hub sends and
 * the response topic devices send (fixtures: tests from the Node capture mqtt-methods). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hub/mqtt/method_topic.h"

static bool name_ok(const char *s)
{
    return method_name_valid(s, strlen(s));
}

static bool parse(const char *topic, struct method_response_topic *t)
{
    return method_topic_parse_response(topic, strlen(topic), t);
}

static void test_method_names(void **state)
{
    (void)state;
    assert_true(name_ok("reboot"));
    assert_true(name_ok("get_Reading-2.v1:x$y"));
    char longest[METHOD_NAME_MAX + 2];
    memset(longest, 'm', sizeof(longest));
    assert_true(method_name_valid(longest, METHOD_NAME_MAX));
    assert_false(method_name_valid(longest, METHOD_NAME_MAX + 1));
    assert_false(name_ok(""));
    const char *bad[] = {"a/b", "a?b",         "a#",    "+",    "a b",
                         "q\"", "back\\slash", "tab\t", "\x7f", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(name_ok(bad[i]));
    assert_false(method_name_valid("a\0b", 3));
}

static void test_rids(void **state)
{
    (void)state;
    assert_true(method_rid_valid("1", 1));
    assert_true(method_rid_valid("abc-XYZ-09", 10));
    assert_false(method_rid_valid("", 0));
    assert_false(method_rid_valid("a_b", 3));
    assert_false(method_rid_valid("a&b", 3));
    char longest[METHOD_RID_MAX + 1];
    memset(longest, '7', sizeof(longest));
    assert_true(method_rid_valid(longest, METHOD_RID_MAX));
    assert_false(method_rid_valid(longest, METHOD_RID_MAX + 1));
}

static void test_request_topic(void **state)
{
    (void)state;
    char out[256];
    size_t n = method_topic_request(out, sizeof(out), "reboot", 6, "1", 1);
    /* Byte for byte what the capture's (forged) hub sent and the Node SDK accepted. */
    assert_int_equal(n, strlen("$iothub/methods/POST/reboot/?$rid=1"));
    assert_memory_equal(out, "$iothub/methods/POST/reboot/?$rid=1", n);
    assert_int_equal(method_topic_request(out, n, "reboot", 6, "1", 1), n); /* exact fit */
    assert_int_equal(method_topic_request(out, n - 1, "reboot", 6, "1", 1), 0);
    assert_int_equal(method_topic_request(out, sizeof(out), "a/b", 3, "1", 1), 0);
    assert_int_equal(method_topic_request(out, sizeof(out), "m", 1, "1&x=2", 5), 0);
    assert_int_equal(method_topic_request(out, sizeof(out), "m", 1, "", 0), 0);
}

static void test_response_topics(void **state)
{
    (void)state;
    struct method_response_topic t;
    assert_true(parse("$iothub/methods/res/200/?$rid=1", &t)); /* Node, mqtt-methods */
    assert_int_equal(t.status, 200);
    assert_int_equal(t.rid_len, 1);
    assert_memory_equal(t.rid, "1", 1);
    assert_true(parse("$iothub/methods/res/-1/?$rid=abc-9", &t));
    assert_int_equal(t.status, -1);
    assert_int_equal(t.rid_len, 5);
    assert_true(parse("$iothub/methods/res/0/?x=1&$rid=42&y", &t)); /* other parameters */
    assert_int_equal(t.status, 0);
    assert_memory_equal(t.rid, "42", 2);
    assert_true(parse("$iothub/methods/res/2147483647/?$rid=1", &t));
    assert_int_equal(t.status, 2147483647);
    assert_true(parse("$iothub/methods/res/-2147483648/?$rid=1", &t));
    assert_int_equal(t.status, -2147483647 - 1);
}

static void test_bad_response_topics(void **state)
{
    (void)state;
    struct method_response_topic t;
    const char *bad[] = {
        "",
        "$iothub/methods/res/",
        "$iothub/methods/res/200",
        "$iothub/methods/res/200/",
        "$iothub/methods/res/200/?",
        "$iothub/methods/res/200?$rid=1",         /* no '/' before '?' */
        "$iothub/methods/res//?$rid=1",           /* no status */
        "$iothub/methods/res/-/?$rid=1",          /* sign only */
        "$iothub/methods/res/+200/?$rid=1",       /* not decimal */
        "$iothub/methods/res/ 200/?$rid=1",       /* not decimal */
        "$iothub/methods/res/2e2/?$rid=1",        /* not decimal */
        "$iothub/methods/res/2147483648/?$rid=1", /* beyond int32 */
        "$iothub/methods/res/99999999999/?$rid=1",
        "$iothub/methods/res/200/?$rid=",         /* empty rid */
        "$iothub/methods/res/200/?rid=1",         /* no $rid */
        "$iothub/methods/res/200/?$rid=1&$rid=2", /* ambiguous */
        "$iothub/methods/res/200/?$rid=1/2",      /* bad rid characters */
        "$iothub/methods/res/200/x/?$rid=1",      /* extra level */
        "$iothub/methods/POST/200/?$rid=1",       /* request topic */
        "$IOTHUB/methods/res/200/?$rid=1",        /* case matters */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(bad[i], &t))
            fail_msg("accepted \"%s\"", bad[i]);
    /* A NUL inside the length is data, not an end. */
    assert_false(method_topic_parse_response("$iothub/methods/res/200/?$rid=1\0", 32, &t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_names),        cmocka_unit_test(test_rids),
        cmocka_unit_test(test_request_topic),       cmocka_unit_test(test_response_topics),
        cmocka_unit_test(test_bad_response_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
