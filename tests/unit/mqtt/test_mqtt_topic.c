/* Topic names and filters: mqtt_topic_matches (the examples of MQTT 3.1.1 section 4.7 and
 * the IoT Hub topics), mqtt_check_topic and mqtt_check_filter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mqtt/mqtt.h"

static bool matches(const char *filter, const char *topic)
{
    return mqtt_topic_matches(filter, strlen(filter), topic, strlen(topic));
}

struct match_case {
    const char *filter;
    const char *topic;
    bool want;
};

static void check_cases(const struct match_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (matches(cases[i].filter, cases[i].topic) != cases[i].want) {
            print_error("filter '%s' topic '%s': expected %s\n", cases[i].filter, cases[i].topic,
                        cases[i].want ? "match" : "no match");
            fail();
        }
    }
}

#define CHECK(cases) check_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void test_exact(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        {"a", "a", true},       {"a/b", "a/b", true},   {"a/b", "a/bc", false},
        {"a/bc", "a/b", false}, {"a/b", "a/b/", false}, {"a/b/", "a/b", false},
        {"a/b", "A/b", false},  {"/", "/", true},       {"/a", "a", false},
        {"a", "/a", false},     {"a//b", "a//b", true}, {"a//b", "a/b", false},
        {"$SYS", "$SYS", true}, {"a b", "a b", true},   {"\xc3\xa9", "\xc3\xa9", true},
    };
    CHECK(cases);
}

/* MQTT 3.1.1 section 4.7.1.2: multi-level wildcard. */
static void test_hash(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/tennis/player1/#", "sport/tennis/player2", false},
        {"sport/tennis/player1/#", "sport/tennis", false},
        {"sport/#", "sport", true},
        {"sport/#", "sport/", true},
        {"sport/#", "sports", false},
        {"sport/#", "sportx/a", false},
        {"#", "sport", true},
        {"#", "sport/tennis/player1", true},
        {"#", "/", true},
        {"#", "/a", true},
        {"/#", "/a", true},
        {"/#", "a", false},
        {"a/#", "a//", true},
    };
    CHECK(cases);
}

/* MQTT 3.1.1 section 4.7.1.3: single-level wildcard. */
static void test_plus(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player2", true},
        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+", "sport", true},
        {"+", "/finance", false},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+/tennis/#", "sport/tennis/player1", true},
        {"+/tennis/#", "sport/tennis", true},
        {"+/tennis/#", "sport/golf", false},
        {"a/+/c", "a/b/c", true},
        {"a/+/c", "a//c", true},
        {"a/+/c", "a/b/d", false},
        {"a/+/c", "a/b/c/d", false},
        {"a/+", "a/b/c", false},
        {"+/+/+", "a/b/c", true},
        {"+/+/+", "a/b", false},
        {"a/+/+/#", "a/b/c", true},
        {"a/+/+/#", "a/b", false},
    };
    CHECK(cases);
}

/* MQTT 3.1.1 section 4.7.2: topics starting with '$'. */
static void test_dollar(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        {"#", "$SYS/monitor/Clients", false},
        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
        {"$SYS/#", "$SYS/monitor/Clients", true},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
        {"+", "$SYS", false},
        {"#", "$", false},
        {"a/#", "a/$b", true}, /* only the first character counts */
        {"a/+", "a/$b", true},
        {"$iothub/methods/POST/#", "$iothub/methods/POST/reboot/?$rid=1", true},
        {"$iothub/twin/res/#", "$iothub/twin/res/200/?$rid=1e2f", true},
        {"$iothub/twin/PATCH/properties/desired/#",
         "$iothub/twin/PATCH/properties/desired/?$version=3", true},
        {"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/?$version=3", false},
    };
    CHECK(cases);
}

static void test_iothub(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        {"devices/d1/messages/devicebound/#", "devices/d1/messages/devicebound/", true},
        {"devices/d1/messages/devicebound/#",
         "devices/d1/messages/devicebound/%24.mid=1&%24.to=%2Fdevices%2Fd1", true},
        {"devices/d1/messages/devicebound/#", "devices/d1/messages/devicebound", true},
        {"devices/d1/messages/devicebound/#", "devices/d2/messages/devicebound/", false},
        {"devices/d1/messages/devicebound/#", "devices/d10/messages/devicebound/", false},
        {"devices/+/messages/events/#", "devices/d1/messages/events/%24.mid=a", true},
        {"devices/+/modules/+/messages/events/#", "devices/d1/modules/m1/messages/events/", true},
    };
    CHECK(cases);
}

static void test_lengths_not_nul(void **state)
{
    (void)state;
    /* Only the given lengths count: no NUL terminator is needed or read. */
    const char filter[] = {'a', '/', '+', '/', '#'};
    const char topic[] = {'a', '/', 'b', '/', 'c', 'X'};
    assert_true(mqtt_topic_matches(filter, 5, topic, 5));
    assert_true(mqtt_topic_matches(filter, 3, topic, 3));
    assert_false(mqtt_topic_matches(filter, 3, topic, 5));
    assert_true(mqtt_topic_matches(filter, 1, topic, 1));
    assert_false(mqtt_topic_matches(filter, 1, topic, 6));
    assert_true(mqtt_topic_matches("#", 1, "", 0));
    assert_true(mqtt_topic_matches("", 0, "", 0));
    assert_false(mqtt_topic_matches("", 0, "a", 1));
}

static void test_check_topic(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int want;
    } cases[] = {
        {"a", 0},
        {"/", 0},
        {"$iothub/twin/GET/?$rid=1", 0},
        {"devices/d1/messages/events/%24.mid=1&with%20space=a", 0},
        {"a b \xe2\x82\xac", 0},
        {"", MQTT_ERR_TOPIC},
        {"+", MQTT_ERR_TOPIC},
        {"#", MQTT_ERR_TOPIC},
        {"a/+/b", MQTT_ERR_TOPIC},
        {"devices/d1/messages/events/a#", MQTT_ERR_TOPIC},
        {"devices/d1/messages/events/\xff", MQTT_ERR_UTF8},
        {"\xed\xa0\x80", MQTT_ERR_UTF8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(mqtt_check_topic(cases[i].s, strlen(cases[i].s)), cases[i].want);
    assert_int_equal(mqtt_check_topic("abcdefghijklmnop\0", 17), MQTT_ERR_UTF8);
    /* A wildcard at every position, past and inside the 8-byte blocks. */
    char t[40];
    for (size_t at = 0; at < sizeof(t); at++) {
        memset(t, 'x', sizeof(t));
        t[at] = '+';
        assert_int_equal(mqtt_check_topic(t, sizeof(t)), MQTT_ERR_TOPIC);
        t[at] = '#';
        assert_int_equal(mqtt_check_topic(t, sizeof(t)), MQTT_ERR_TOPIC);
        t[at] = '\0';
        assert_int_equal(mqtt_check_topic(t, sizeof(t)), MQTT_ERR_UTF8);
        assert_int_equal(mqtt_check_utf8(t, sizeof(t)), MQTT_ERR_UTF8);
        t[at] = (char)0x80;
        assert_int_equal(mqtt_check_topic(t, sizeof(t)), MQTT_ERR_UTF8);
        assert_int_equal(mqtt_check_utf8(t, sizeof(t)), MQTT_ERR_UTF8);
        t[at] = '/';
        assert_int_equal(mqtt_check_topic(t, sizeof(t)), 0);
    }
    assert_int_equal(mqtt_check_utf8(NULL, 0), 0);
}

static void test_check_filter(void **state)
{
    (void)state;
    static const char *const good[] = {"#",
                                       "+",
                                       "+/+",
                                       "/#",
                                       "a/+/b/#",
                                       "$SYS/#",
                                       "/",
                                       "sport/+",
                                       "+/a/#",
                                       "a",
                                       "a//",
                                       "+//+",
                                       "$iothub/methods/POST/#"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(mqtt_check_filter(good[i], strlen(good[i])), 0);
    static const char *const bad[] = {"",     "a#", "#a",   "a/#/b", "sport/tennis#",
                                      "a+",   "+a", "a/b+", "++",    "#/",
                                      "a/#/", "#+", "+#"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(mqtt_check_filter(bad[i], strlen(bad[i])), MQTT_ERR_TOPIC);
    assert_int_equal(mqtt_check_filter("a/\xc0\x80", 4), MQTT_ERR_UTF8);
    assert_int_equal(mqtt_check_filter("a\0", 2), MQTT_ERR_UTF8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),       cmocka_unit_test(test_hash),
        cmocka_unit_test(test_plus),        cmocka_unit_test(test_dollar),
        cmocka_unit_test(test_iothub),      cmocka_unit_test(test_lengths_not_nul),
        cmocka_unit_test(test_check_topic), cmocka_unit_test(test_check_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
