/* The model id of an MQTT user name (src/hub/mqtt/username.c), as each SDK sends it
 * (spec 2.2). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hub/mqtt/username.h"

static int model_id(const char *username, char **out)
{
    return mqtt_username_model_id(username, strlen(username), out);
}

static void expect_model(const char *username, const char *want)
{
    char *got = NULL;
    assert_int_equal(model_id(username, &got), 1);
    assert_string_equal(got, want);
    free(got);
}

static void expect_none(const char *username)
{
    char *got = (char *)"untouched";
    assert_int_equal(model_id(username, &got), 0);
    assert_null(got);
}

static void test_each_sdk(void **state)
{
    (void)state;
    /* Node: not encoded, before DeviceClientType. */
    expect_model("h.azure-devices.net/d1/?api-version=2021-04-12&model-id=dtmi:com:example:"
                 "Thermostat;1&DeviceClientType=azure-iot-device%2F1.18.2",
                 "dtmi:com:example:Thermostat;1");
    /* C SDK: encoded, last. */
    expect_model("h.azure-devices.net/d1/?api-version=2020-09-30&DeviceClientType=iothubclient"
                 "%2F1.11.0&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1",
                 "dtmi:com:example:Thermostat;1");
    /* Python: right after api-version. */
    expect_model("h/d1/?api-version=2020-09-30&model-id=dtmi:a:b;2", "dtmi:a:b;2");
    /* Older C SDKs: no '?'. */
    expect_model("h/d1/api-version=2016-11-14&model-id=dtmi:a:b;1", "dtmi:a:b;1");
}

static void test_none(void **state)
{
    (void)state;
    expect_none("h/d1/?api-version=2021-04-12&DeviceClientType=x");
    expect_none("h/d1/?api-version=2021-04-12");
    expect_none("h/d1");
    expect_none("h/d1/?model-id=");                        /* empty: none */
    expect_none("h/d1/?xmodel-id=dtmi:a:b;1&model-idx=1"); /* other keys */
    expect_none("h/model-id/?api-version=1");              /* a device named so */
}

static void test_bad(void **state)
{
    (void)state;
    char *got = NULL;
    assert_int_equal(model_id("h/d1/?model-id=dtmi%3", &got), -1);
    assert_null(got);
    assert_int_equal(model_id("h/d1/?model-id=dtmi%00x", &got), -1); /* a NUL */
    size_t n = 20 + 5000;
    char *u = malloc(n + 1);
    assert_non_null(u);
    strcpy(u, "h/d1/?model-id=");
    memset(u + strlen(u), 'a', n - strlen(u));
    u[n] = '\0';
    assert_int_equal(model_id(u, &got), -1); /* longer than MQTT_MODEL_ID_MAX */
    assert_null(got);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_sdk),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
