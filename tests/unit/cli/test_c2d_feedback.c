/* Feedback bodies of cloud-to-device messages (spec 5.3): the hub's JSON array of records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "c2d_feedback.h"

static int parse(const char *body, struct c2d_feedback_batch *b)
{
    char why[256];
    return c2d_feedback_parse(body, strlen(body), b, why, sizeof(why));
}

/* The record of spec 5.3, as the hosted service documents it. */
static void test_spec_record(void **state)
{
    (void)state;
    struct c2d_feedback_batch b;
    assert_int_equal(parse("[{\"originalMessageId\":\"0987654321\",\"enqueuedTimeUtc\":"
                           "\"2015-07-28T16:24:48.789Z\",\"statusCode\":\"Success\","
                           "\"description\":\"Success\",\"deviceId\":\"123\","
                           "\"deviceGenerationId\":\"abcdefghijklmnopqrstuvwxyz\"}]",
                           &b),
                     0);
    assert_int_equal(b.count, 1);
    const struct c2d_feedback_record *r = &b.records[0];
    assert_string_equal(r->original_message_id, "0987654321");
    assert_string_equal(r->enqueued_time_utc, "2015-07-28T16:24:48.789Z");
    assert_string_equal(r->status_code, "Success");
    assert_string_equal(r->description, "Success");
    assert_string_equal(r->device_id, "123");
    assert_string_equal(r->device_generation_id, "abcdefghijklmnopqrstuvwxyz");

    json_t *j = c2d_feedback_record_json(r);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(text, "{\"originalMessageId\":\"0987654321\",\"statusCode\":\"Success\","
                              "\"deviceId\":\"123\",\"enqueuedTimeUtc\":"
                              "\"2015-07-28T16:24:48.789Z\",\"description\":\"Success\","
                              "\"deviceGenerationId\":\"abcdefghijklmnopqrstuvwxyz\"}");
    free(text);
    json_decref(j);

    char line[256];
    assert_string_equal(c2d_feedback_record_line(r, line, sizeof(line)),
                        "0987654321  Success  123  2015-07-28T16:24:48.789Z  Success");
    c2d_feedback_batch_free(&b);
    assert_null(b.root);
}

static void test_batch_in_order(void **state)
{
    (void)state;
    struct c2d_feedback_batch b;
    assert_int_equal(parse("[{\"originalMessageId\":\"a\",\"statusCode\":\"Success\"},"
                           " {\"originalMessageId\":\"b\",\"statusCode\":\"Expired\"},"
                           " {\"originalMessageId\":\"c\",\"statusCode\":\"Rejected\"}]",
                           &b),
                     0);
    assert_int_equal(b.count, 3);
    assert_string_equal(b.records[0].original_message_id, "a");
    assert_string_equal(b.records[1].status_code, "Expired");
    assert_string_equal(b.records[2].original_message_id, "c");
    assert_string_equal(b.records[2].status_code, "Rejected");
    c2d_feedback_batch_free(&b);
}

/* Missing members and members that are not strings read as "" (printed as "-"). */
static void test_missing_and_odd_members(void **state)
{
    (void)state;
    struct c2d_feedback_batch b;
    assert_int_equal(parse("[{\"statusCode\":\"Purged\",\"deviceId\":7,\"description\":null,"
                           "\"extra\":{\"x\":1}}]",
                           &b),
                     0);
    assert_int_equal(b.count, 1);
    assert_string_equal(b.records[0].original_message_id, "");
    assert_string_equal(b.records[0].device_id, "");
    assert_string_equal(b.records[0].description, "");
    char line[128];
    assert_string_equal(c2d_feedback_record_line(&b.records[0], line, sizeof(line)),
                        "-  Purged  -  -  -");
    c2d_feedback_batch_free(&b);
}

static void test_single_object_and_empty_array(void **state)
{
    (void)state;
    struct c2d_feedback_batch b;
    assert_int_equal(parse("{\"originalMessageId\":\"m\",\"statusCode\":\"Success\"}", &b), 0);
    assert_int_equal(b.count, 1);
    assert_string_equal(b.records[0].original_message_id, "m");
    c2d_feedback_batch_free(&b);
    assert_int_equal(parse("[]", &b), 0);
    assert_int_equal(b.count, 0);
    assert_null(b.records);
    c2d_feedback_batch_free(&b);
}

/* Control characters from the hub never reach the terminal as such. */
static void test_line_hides_control_characters(void **state)
{
    (void)state;
    struct c2d_feedback_batch b;
    assert_int_equal(parse("[{\"originalMessageId\":\"a\\u001b[2Jb\",\"statusCode\":\"Success\","
                           "\"description\":\"x\\ny\"}]",
                           &b),
                     0);
    char line[128];
    assert_string_equal(c2d_feedback_record_line(&b.records[0], line, sizeof(line)),
                        "a [2Jb  Success  -  -  x y");
    c2d_feedback_batch_free(&b);
}

static void test_rejects_what_is_not_feedback(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "\"Success\"",
        "42",
        "null",
        "[1]",
        "[{}, \"x\"]",
        "[[]]",
        "{\"a\":1,\"a\":2}",
        "[{\"originalMessageId\":\"a\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct c2d_feedback_batch b;
        char why[256] = "";
        assert_int_equal(c2d_feedback_parse(bad[i], strlen(bad[i]), &b, why, sizeof(why)), -1);
        assert_true(why[0] != '\0');
        assert_null(b.root);
        assert_null(b.records);
        assert_int_equal(b.count, 0);
    }
}

/* Bytes are taken by length: no terminating NUL needed, none read past the end. */
static void test_length_bounded(void **state)
{
    (void)state;
    const char body[] = "[{\"statusCode\":\"Success\"}]garbage";
    struct c2d_feedback_batch b;
    char why[256];
    assert_int_equal(c2d_feedback_parse(body, 26, &b, why, sizeof(why)), 0);
    assert_int_equal(b.count, 1);
    c2d_feedback_batch_free(&b);
    assert_int_equal(c2d_feedback_parse(body, 25, &b, why, sizeof(why)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_record),
        cmocka_unit_test(test_batch_in_order),
        cmocka_unit_test(test_missing_and_odd_members),
        cmocka_unit_test(test_single_object_and_empty_array),
        cmocka_unit_test(test_line_hides_control_characters),
        cmocka_unit_test(test_rejects_what_is_not_feedback),
        cmocka_unit_test(test_length_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
