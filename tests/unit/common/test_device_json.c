/* Device identity JSON (spec 3.3): the response shape, the request parser's tolerance of
 * what azure-iothub really sends (bodies copied from fixtures/wire/https-registry.txt),
 * and its errors naming the bad member. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/device_json.h"

#define KEY1 "RkFLRS1QUklNQVJZLUtFWS1OT1QtQS1TRUNSRVQtMDE="
#define KEY2 "RkFLRS1TRUNPTkRBUlktS0VZLU5PVC1TRUNSRVQtMDI="
#define TP40 "0123456789ABCDEF0123456789ABCDEF01234567"

/* Node azure-iothub 1.16.6, Registry.create({deviceId, status:'enabled'}) (capture 262 ms). */
static const char node_create_body[] =
    "{\"deviceId\":\"wirecap-device-01\",\"status\":\"enabled\",\"authentication\":{\"type\":"
    "\"sas\",\"symmetricKey\":{\"primaryKey\":\"\",\"secondaryKey\":\"\"}}}";

/* Registry.update({deviceId, status:'disabled', authentication}) (capture 315 ms). */
static const char node_update_disable_body[] =
    "{\"deviceId\":\"wirecap-device-01\",\"status\":\"disabled\",\"authentication\":{"
    "\"symmetricKey\":{\"primaryKey\":\"RkFLRS1QUklNQVJZLUtFWS1OT1QtQS1TRUNSRVQtMDE=\","
    "\"secondaryKey\":\"RkFLRS1TRUNPTkRBUlktS0VZLU5PVC1TRUNSRVQtMDI=\"},\"x509Thumbprint\":{"
    "\"primaryThumbprint\":null,\"secondaryThumbprint\":null},\"type\":\"sas\"}}";

/* Registry.update(status:'enabled') (capture 318 ms). */
static const char node_update_enable_body[] =
    "{\"deviceId\":\"wirecap-device-01\",\"status\":\"enabled\",\"authentication\":{"
    "\"symmetricKey\":{\"primaryKey\":\"RkFLRS1QUklNQVJZLUtFWS1OT1QtQS1TRUNSRVQtMDE=\","
    "\"secondaryKey\":\"RkFLRS1TRUNPTkRBUlktS0VZLU5PVC1TRUNSRVQtMDI=\"},\"x509Thumbprint\":{"
    "\"primaryThumbprint\":null,\"secondaryThumbprint\":null},\"type\":\"sas\"}}";

/* Registry.create({deviceId}) without status (capture 326 ms). */
static const char node_create_no_status_body[] =
    "{\"deviceId\":\"wirecap-duplicate-device\",\"authentication\":{\"type\":\"sas\","
    "\"symmetricKey\":{\"primaryKey\":\"\",\"secondaryKey\":\"\"}}}";

/* A whole deprecated Node `Device` object sent back by Registry.update (spec 3.3): its
 * defaults are lower-case "disconnected", the string "0" count, null timestamps and ids,
 * empty capabilities and an authentication without type (Node adds "sas"). */
static const char node_device_class_body[] =
    "{\"deviceId\":\"legacy-device\",\"generationId\":null,\"etag\":null,"
    "\"connectionState\":\"disconnected\",\"status\":\"enabled\",\"statusReason\":null,"
    "\"connectionStateUpdatedTime\":null,\"statusUpdatedTime\":null,\"lastActivityTime\":null,"
    "\"cloudToDeviceMessageCount\":\"0\",\"capabilities\":{},\"authentication\":{"
    "\"symmetricKey\":{\"primaryKey\":null,\"secondaryKey\":null},\"x509Thumbprint\":{"
    "\"primaryThumbprint\":null,\"secondaryThumbprint\":null},\"type\":\"sas\"}}";

/* The hub's answer as the capture tool forged it (what clients must read). */
static const char hub_response_body[] =
    "{\"deviceId\":\"wirecap-device-01\",\"generationId\":\"638000000000000001\",\"etag\":"
    "\"MQ==\",\"connectionState\":\"Disconnected\",\"status\":\"enabled\",\"statusReason\":null,"
    "\"connectionStateUpdatedTime\":\"1970-01-01T00:00:00.000Z\",\"statusUpdatedTime\":"
    "\"1970-01-01T00:00:00.000Z\",\"lastActivityTime\":\"1970-01-01T00:00:00.000Z\","
    "\"cloudToDeviceMessageCount\":0,\"authentication\":{\"symmetricKey\":{\"primaryKey\":"
    "\"RkFLRS1QUklNQVJZLUtFWS1OT1QtQS1TRUNSRVQtMDE=\",\"secondaryKey\":"
    "\"RkFLRS1TRUNPTkRBUlktS0VZLU5PVC1TRUNSRVQtMDI=\"},\"x509Thumbprint\":{"
    "\"primaryThumbprint\":null,\"secondaryThumbprint\":null},\"type\":\"sas\"},"
    "\"capabilities\":{\"iotEdge\":false}}";

struct parsed {
    int rc;
    struct device_request req;
    char field[128];
    char reason[256];
};

static struct parsed parse(const char *body)
{
    struct parsed p;
    memset(&p, 0, sizeof(p));
    p.rc = device_request_parse(body, strlen(body), &p.req, p.field, sizeof(p.field), p.reason,
                                sizeof(p.reason));
    return p;
}

static struct device full_device(void)
{
    struct device d;
    memset(&d, 0, sizeof(d));
    snprintf(d.device_id, sizeof(d.device_id), "dev-1");
    snprintf(d.generation_id, sizeof(d.generation_id), "638999999999999999");
    snprintf(d.etag, sizeof(d.etag), "MTI=");
    d.enabled = false;
    d.has_status_reason = true;
    snprintf(d.status_reason, sizeof(d.status_reason), "stolen");
    d.status_updated_ms = 1764130141123;
    d.auth_type = DEVICE_AUTH_SAS;
    snprintf(d.primary_key, sizeof(d.primary_key), KEY1);
    snprintf(d.secondary_key, sizeof(d.secondary_key), KEY2);
    d.connected = true;
    d.connection_state_updated_ms = 1764130142000;
    d.last_activity_ms = 1764130143999;
    d.c2d_message_count = 3;
    d.iot_edge = true;
    snprintf(d.device_scope, sizeof(d.device_scope), "ms-azure-iot-edge://dev-1-123");
    return d;
}

static const char *str_at(const json_t *obj, const char *path)
{
    json_t *v = json_object_get(obj, path);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void test_to_json_member_set(void **state)
{
    (void)state;
    struct device d = full_device();
    json_t *j = device_to_json(&d);
    assert_non_null(j);
    const char *want[] = {"deviceId",
                          "generationId",
                          "etag",
                          "connectionState",
                          "status",
                          "statusReason",
                          "connectionStateUpdatedTime",
                          "statusUpdatedTime",
                          "lastActivityTime",
                          "cloudToDeviceMessageCount",
                          "authentication",
                          "capabilities",
                          "deviceScope"};
    assert_int_equal(json_object_size(j), sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_non_null(json_object_get(j, want[i]));
    assert_string_equal(str_at(j, "connectionState"), "Connected");
    assert_string_equal(str_at(j, "status"), "disabled");
    assert_string_equal(str_at(j, "statusReason"), "stolen");
    assert_string_equal(str_at(j, "statusUpdatedTime"), "2025-11-26T04:09:01.123Z");
    assert_string_equal(str_at(j, "lastActivityTime"), "2025-11-26T04:09:03.999Z");
    assert_int_equal(json_integer_value(json_object_get(j, "cloudToDeviceMessageCount")), 3);
    json_t *auth = json_object_get(j, "authentication");
    assert_int_equal(json_object_size(auth), 3);
    assert_string_equal(str_at(auth, "type"), "sas");
    json_t *sym = json_object_get(auth, "symmetricKey");
    assert_string_equal(str_at(sym, "primaryKey"), KEY1);
    assert_string_equal(str_at(sym, "secondaryKey"), KEY2);
    json_t *x509 = json_object_get(auth, "x509Thumbprint");
    assert_true(json_is_null(json_object_get(x509, "primaryThumbprint")));
    assert_true(json_is_null(json_object_get(x509, "secondaryThumbprint")));
    assert_true(json_is_true(json_object_get(json_object_get(j, "capabilities"), "iotEdge")));
    json_decref(j);
}

static void test_to_json_nulls_and_defaults(void **state)
{
    (void)state;
    struct device d;
    memset(&d, 0, sizeof(d));
    snprintf(d.device_id, sizeof(d.device_id), "x509-dev");
    snprintf(d.generation_id, sizeof(d.generation_id), "638000000000000001");
    snprintf(d.etag, sizeof(d.etag), "MQ==");
    d.enabled = true;
    d.auth_type = DEVICE_AUTH_SELF_SIGNED;
    snprintf(d.primary_thumbprint, sizeof(d.primary_thumbprint), TP40);
    json_t *j = device_to_json(&d);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(text);
    assert_string_equal(
        text, "{\"authentication\":{\"symmetricKey\":{\"primaryKey\":null,\"secondaryKey\":null},"
              "\"type\":\"selfSigned\",\"x509Thumbprint\":{\"primaryThumbprint\":"
              "\"" TP40 "\",\"secondaryThumbprint\":null}},\"capabilities\":{\"iotEdge\":false},"
              "\"cloudToDeviceMessageCount\":0,\"connectionState\":\"Disconnected\","
              "\"connectionStateUpdatedTime\":\"0001-01-01T00:00:00Z\",\"deviceId\":"
              "\"x509-dev\",\"etag\":\"MQ==\",\"generationId\":\"638000000000000001\","
              "\"lastActivityTime\":\"0001-01-01T00:00:00Z\",\"status\":\"enabled\","
              "\"statusReason\":null,\"statusUpdatedTime\":\"0001-01-01T00:00:00Z\"}");
    free(text);
    json_decref(j);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct device d = full_device(), back;
    json_t *j = device_to_json(&d);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    json_t *again = json_loads(text, 0, NULL);
    assert_non_null(again);
    assert_int_equal(device_from_json(again, &back), 0);
    assert_memory_equal(&back, &d, sizeof(d));
    json_decref(again);

    /* The request parser takes the writable members of the same text. */
    struct parsed p = parse(text);
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.req.dev.device_id, d.device_id);
    assert_false(p.req.dev.enabled);
    assert_string_equal(p.req.dev.status_reason, "stolen");
    assert_string_equal(p.req.dev.primary_key, KEY1);
    assert_true(p.req.dev.iot_edge);
    assert_string_equal(p.req.dev.device_scope, d.device_scope);
    assert_string_equal(p.req.dev.etag, "");          /* read-only: not taken */
    assert_string_equal(p.req.dev.generation_id, ""); /* read-only: not taken */
    assert_false(p.req.dev.connected);
    assert_int_equal(p.req.dev.last_activity_ms, 0);
    free(text);
}

static void test_from_json_hub_response(void **state)
{
    (void)state;
    json_t *j = json_loads(hub_response_body, 0, NULL);
    struct device d;
    assert_int_equal(device_from_json(j, &d), 0);
    assert_string_equal(d.device_id, "wirecap-device-01");
    assert_string_equal(d.generation_id, "638000000000000001");
    assert_string_equal(d.etag, "MQ==");
    assert_true(d.enabled);
    assert_false(d.connected);
    assert_false(d.has_status_reason);
    assert_int_equal(d.auth_type, DEVICE_AUTH_SAS);
    assert_string_equal(d.primary_key, KEY1);
    assert_string_equal(d.secondary_key, KEY2);
    assert_string_equal(d.primary_thumbprint, "");
    assert_int_equal(d.last_activity_ms, 0);
    json_decref(j);

    j = json_loads("[1]", 0, NULL);
    assert_int_equal(device_from_json(j, &d), -1);
    json_decref(j);
    j = json_loads("{\"generationId\":\"1\"}", 0, NULL);
    assert_int_equal(device_from_json(j, &d), -1); /* no deviceId */
    json_decref(j);
}

static void test_parse_node_create(void **state)
{
    (void)state;
    struct parsed p = parse(node_create_body);
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.req.dev.device_id, "wirecap-device-01");
    assert_true(p.req.has_status);
    assert_true(p.req.dev.enabled);
    assert_true(p.req.has_auth);
    assert_int_equal(p.req.dev.auth_type, DEVICE_AUTH_SAS);
    assert_string_equal(p.req.dev.primary_key, "");
    assert_string_equal(p.req.dev.secondary_key, "");
    assert_false(p.req.has_status_reason);
    assert_false(p.req.has_capabilities);
    assert_false(p.req.has_device_scope);

    p = parse(node_create_no_status_body);
    assert_int_equal(p.rc, 0);
    assert_false(p.req.has_status);
    assert_true(p.req.dev.enabled); /* status defaults to enabled */
    assert_string_equal(p.req.dev.device_id, "wirecap-duplicate-device");
}

static void test_parse_node_updates(void **state)
{
    (void)state;
    struct parsed p = parse(node_update_disable_body);
    assert_int_equal(p.rc, 0);
    assert_true(p.req.has_status);
    assert_false(p.req.dev.enabled);
    assert_int_equal(p.req.dev.auth_type, DEVICE_AUTH_SAS);
    assert_string_equal(p.req.dev.primary_key, KEY1);
    assert_string_equal(p.req.dev.secondary_key, KEY2);
    assert_string_equal(p.req.dev.primary_thumbprint, "");
    assert_string_equal(p.req.dev.secondary_thumbprint, "");

    p = parse(node_update_enable_body);
    assert_int_equal(p.rc, 0);
    assert_true(p.req.dev.enabled);

    p = parse(node_device_class_body);
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.req.dev.device_id, "legacy-device");
    assert_true(p.req.dev.enabled);
    assert_true(p.req.has_status_reason); /* null was given */
    assert_false(p.req.dev.has_status_reason);
    assert_true(p.req.has_capabilities);
    assert_false(p.req.dev.iot_edge);
    assert_int_equal(p.req.dev.auth_type, DEVICE_AUTH_SAS);
    assert_string_equal(p.req.dev.primary_key, "");
}

static void test_parse_tolerance(void **state)
{
    (void)state;
    /* Read-only members of any type are ignored. */
    struct parsed p =
        parse("{\"deviceId\":\"d\",\"etag\":5,\"generationId\":{},\"connectionState\":[1],"
              "\"lastActivityTime\":false,\"cloudToDeviceMessageCount\":\"zero\","
              "\"statusUpdatedTime\":null,\"connectionStateUpdatedTime\":7.5,"
              "\"someFutureMember\":{\"x\":1}}");
    assert_int_equal(p.rc, 0);
    /* status in any case. */
    p = parse("{\"status\":\"DISABLED\"}");
    assert_int_equal(p.rc, 0);
    assert_false(p.req.dev.enabled);
    assert_string_equal(p.req.dev.device_id, ""); /* absent: the path gives it */
    p = parse("{\"status\":\"Enabled\",\"statusReason\":\"ok\"}");
    assert_int_equal(p.rc, 0);
    assert_true(p.req.dev.enabled);
    assert_true(p.req.dev.has_status_reason);
    assert_string_equal(p.req.dev.status_reason, "ok");
    /* Missing type: selfSigned when a thumbprint is given, else sas. */
    p = parse("{\"authentication\":{\"x509Thumbprint\":{\"secondaryThumbprint\":\"" TP40 "\"}}}");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.req.dev.auth_type, DEVICE_AUTH_SELF_SIGNED);
    assert_string_equal(p.req.dev.secondary_thumbprint, TP40);
    p = parse("{\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"" KEY1 "\"}}}");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.req.dev.auth_type, DEVICE_AUTH_SAS);
    p = parse("{\"authentication\":{\"type\":\"certificateAuthority\"}}");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.req.dev.auth_type, DEVICE_AUTH_CA);
    p = parse("{\"authentication\":{\"type\":\"SelfSigned\",\"x509Thumbprint\":{"
              "\"primaryThumbprint\":\"" TP40 "\"}}}");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.req.dev.auth_type, DEVICE_AUTH_SELF_SIGNED);
    /* Edge members. */
    p = parse("{\"capabilities\":{\"iotEdge\":true},\"deviceScope\":\"scope-1\","
              "\"parentScopes\":[\"p1\"]}");
    assert_int_equal(p.rc, 0);
    assert_true(p.req.dev.iot_edge);
    assert_true(p.req.has_device_scope);
    assert_string_equal(p.req.dev.device_scope, "scope-1");
    /* statusReason of exactly 128 characters is fine. */
    char body[300];
    snprintf(body, sizeof(body), "{\"statusReason\":\"%0128d\"}", 0);
    p = parse(body);
    assert_int_equal(p.rc, 0);
    assert_int_equal(strlen(p.req.dev.status_reason), 128);
}

struct bad_case {
    const char *body;
    int rc;
    const char *field;
};

static void test_parse_bad_inputs_name_field(void **state)
{
    (void)state;
    char long_reason[300];
    snprintf(long_reason, sizeof(long_reason), "{\"statusReason\":\"%0129d\"}", 0);
    const struct bad_case cases[] = {
        {"", -2, "body"},
        {"{", -2, "body"},
        {"{\"a\":1,\"a\":2}", -2, "body"},
        {"{\"deviceId\":\"d\"} trailing", -2, "body"},
        {"[]", -1, "body"},
        {"\"device\"", -1, "body"},
        {"null", -1, "body"},
        {"42", -1, "body"},
        {"{\"deviceId\":\"a b\"}", -1, "deviceId"},
        {"{\"deviceId\":\"\"}", -1, "deviceId"},
        {"{\"deviceId\":\"semi;colon\"}", -1, "deviceId"},
        {"{\"deviceId\":5}", -1, "deviceId"},
        {"{\"status\":\"paused\"}", -1, "status"},
        {"{\"status\":true}", -1, "status"},
        {long_reason, -1, "statusReason"},
        {"{\"statusReason\":5}", -1, "statusReason"},
        {"{\"authentication\":\"sas\"}", -1, "authentication"},
        {"{\"authentication\":{\"type\":\"magic\"}}", -1, "authentication.type"},
        {"{\"authentication\":{\"type\":1}}", -1, "authentication.type"},
        {"{\"authentication\":{\"symmetricKey\":[]}}", -1, "authentication.symmetricKey"},
        {"{\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"not base64!\"}}}", -1,
         "authentication.symmetricKey.primaryKey"},
        {"{\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"" KEY1
         "\",\"secondaryKey\":\"QUJD\"}}}",
         -1, "authentication.symmetricKey.secondaryKey"},
        {"{\"authentication\":{\"symmetricKey\":{\"secondaryKey\":12}}}", -1,
         "authentication.symmetricKey.secondaryKey"},
        {"{\"authentication\":{\"x509Thumbprint\":5}}", -1, "authentication.x509Thumbprint"},
        {"{\"authentication\":{\"x509Thumbprint\":{\"primaryThumbprint\":\"xyz\"}}}", -1,
         "authentication.x509Thumbprint.primaryThumbprint"},
        {"{\"authentication\":{\"x509Thumbprint\":{\"secondaryThumbprint\":\"" TP40 "0\"}}}", -1,
         "authentication.x509Thumbprint.secondaryThumbprint"},
        {"{\"capabilities\":true}", -1, "capabilities"},
        {"{\"capabilities\":{\"iotEdge\":\"yes\"}}", -1, "capabilities.iotEdge"},
        {"{\"deviceScope\":7}", -1, "deviceScope"},
        {"{\"parentScopes\":\"x\"}", -1, "parentScopes"},
        {"{\"parentScopes\":[1]}", -1, "parentScopes"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct parsed p = parse(cases[i].body);
        if (p.rc != cases[i].rc || strcmp(p.field, cases[i].field) != 0)
            fprintf(stderr, "case %zu (%s): rc %d field %s\n", i, cases[i].body, p.rc, p.field);
        assert_int_equal(p.rc, cases[i].rc);
        assert_string_equal(p.field, cases[i].field);
        assert_true(p.reason[0] != '\0');
        assert_null(strchr(p.reason, ';'));
    }
}

static void test_reasons_never_quote_the_body(void **state)
{
    (void)state;
    /* A malformed body right after a key: jansson's own message would quote it. */
    struct parsed p =
        parse("{\"authentication\":{\"symmetricKey\":{\"primaryKey\":SECRETKEYTEXT}}}");
    assert_int_equal(p.rc, -2);
    assert_null(strstr(p.reason, "SECRET"));
    p = parse("{\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"SECRETKEYTEXT\"}}}");
    assert_int_equal(p.rc, -1);
    assert_null(strstr(p.reason, "SECRET"));
    assert_string_equal(p.field, "authentication.symmetricKey.primaryKey");
    /* A NULL body with length 0 (no body at all). */
    struct device_request req;
    char field[64], reason[128];
    assert_int_equal(
        device_request_parse(NULL, 0, &req, field, sizeof(field), reason, sizeof(reason)), -2);
    assert_string_equal(field, "body");
    /* Small buffers are never overrun. */
    char tiny_field[4], tiny_reason[6];
    assert_int_equal(device_request_parse("{\"status\":1}", 12, &req, tiny_field,
                                          sizeof(tiny_field), tiny_reason, sizeof(tiny_reason)),
                     -1);
    assert_string_equal(tiny_field, "sta");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_json_member_set),
        cmocka_unit_test(test_to_json_nulls_and_defaults),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_from_json_hub_response),
        cmocka_unit_test(test_parse_node_create),
        cmocka_unit_test(test_parse_node_updates),
        cmocka_unit_test(test_parse_tolerance),
        cmocka_unit_test(test_parse_bad_inputs_name_field),
        cmocka_unit_test(test_reasons_never_quote_the_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
