/* Connection strings (spec 1.1): parsing, classification, and errors that never show a
 * key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/connstr.h"

#define KEY     "RkFLRS1ERVZJQ0UtS0VZLUZPUi1XSVJFLUNBUFRVUkU="
#define SAS_TOK "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=abc%3D&se=1700000000"

static struct connstr cs; /* 9 KiB: keep it off the stack */
static char err[256];

static int parse(const char *s)
{
    err[0] = '\0';
    return connstr_parse(s, &cs, err, sizeof(err));
}

static enum connstr_kind kind_of(const char *s)
{
    if (parse(s) != 0)
        return CONNSTR_INVALID;
    err[0] = '\0';
    return connstr_kind(&cs, err, sizeof(err));
}

/* The reason must mention `name` and must not contain the key. */
static void assert_invalid(const char *s, const char *name)
{
    assert_int_equal(kind_of(s), CONNSTR_INVALID);
    assert_true(strlen(err) > 0);
    if (name && !strstr(err, name)) {
        print_error("error '%s' does not name '%s'\n", err, name);
        fail();
    }
    assert_null(strstr(err, KEY));
    assert_null(strstr(err, "RkFLRS1"));
}

static void test_hub(void **state)
{
    (void)state;
    assert_int_equal(
        kind_of("HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=" KEY),
        CONNSTR_HUB);
    assert_string_equal(cs.host_name, "localhost");
    assert_string_equal(cs.shared_access_key_name, "iothubowner");
    assert_string_equal(cs.shared_access_key, KEY); /* '=' padding kept: split at first '=' */
    assert_false(cs.x509);
}

static void test_device_key(void **state)
{
    (void)state;
    /* Order is free; a trailing ';' is allowed. */
    assert_int_equal(kind_of("SharedAccessKey=" KEY ";DeviceId=dev-1;HostName=myhub.localhost;"),
                     CONNSTR_DEVICE);
    assert_string_equal(cs.device_id, "dev-1");
    assert_string_equal(cs.host_name, "myhub.localhost");
    /* With a hub policy key (needs DeviceConnect). */
    assert_int_equal(
        kind_of("HostName=h;DeviceId=d;SharedAccessKeyName=device;SharedAccessKey=" KEY),
        CONNSTR_DEVICE);
    /* With a gateway. */
    assert_int_equal(kind_of("HostName=h;DeviceId=d;SharedAccessKey=" KEY ";GatewayHostName=gw"),
                     CONNSTR_DEVICE);
    assert_string_equal(cs.gateway_host_name, "gw");
}

static void test_device_sas_and_x509(void **state)
{
    (void)state;
    assert_int_equal(kind_of("HostName=h;DeviceId=dev1;SharedAccessSignature=" SAS_TOK),
                     CONNSTR_DEVICE);
    assert_string_equal(cs.shared_access_signature, SAS_TOK);
    assert_int_equal(kind_of("HostName=h;DeviceId=dev1;x509=true"), CONNSTR_DEVICE);
    assert_true(cs.x509);
    assert_int_equal(kind_of("HostName=h;DeviceId=dev1;x509=True"), CONNSTR_DEVICE);
    assert_true(cs.x509);
}

static void test_module(void **state)
{
    (void)state;
    assert_int_equal(kind_of("HostName=h;DeviceId=d1;ModuleId=m1;SharedAccessKey=" KEY),
                     CONNSTR_MODULE);
    assert_string_equal(cs.module_id, "m1");
    assert_int_equal(kind_of("HostName=h;DeviceId=d1;ModuleId=m1;x509=true"), CONNSTR_MODULE);
}

static void test_eventhub(void **state)
{
    (void)state;
    assert_int_equal(kind_of("Endpoint=sb://localhost/;SharedAccessKeyName=iothubowner;"
                             "SharedAccessKey=" KEY ";EntityPath=myhub"),
                     CONNSTR_EVENTHUB);
    assert_string_equal(cs.endpoint, "sb://localhost/");
    assert_string_equal(cs.entity_path, "myhub");
    /* EntityPath is optional; the key is used as text, so it need not be base64; unknown
     * keys (UseDevelopmentEmulator) are ignored. */
    assert_int_equal(kind_of("Endpoint=sb://localhost:5672/;SharedAccessKeyName=p;"
                             "SharedAccessKey=plain text key;UseDevelopmentEmulator=true"),
                     CONNSTR_EVENTHUB);
}

static void test_missing_parts(void **state)
{
    (void)state;
    assert_invalid("", "HostName");
    assert_invalid("SharedAccessKeyName=iothubowner;SharedAccessKey=" KEY, "HostName");
    assert_invalid("HostName=h;SharedAccessKey=" KEY, "SharedAccessKeyName");
    assert_invalid("HostName=h;SharedAccessKeyName=iothubowner", "SharedAccessKey");
    assert_invalid("HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=",
                   "SharedAccessKey");
    assert_invalid("HostName=;DeviceId=d;SharedAccessKey=" KEY, "HostName");
    assert_invalid("HostName=h;DeviceId=d", "SharedAccessKey");
    assert_invalid("HostName=h;ModuleId=m;SharedAccessKey=" KEY, "ModuleId");
    assert_invalid("Endpoint=sb://h/;SharedAccessKey=" KEY, "SharedAccessKeyName");
    assert_invalid("Endpoint=sb://h/;SharedAccessKeyName=p", "SharedAccessKey");
    /* keys are case-sensitive: "hostname" is an unknown key */
    assert_invalid("hostname=h;SharedAccessKeyName=p;SharedAccessKey=" KEY, "HostName");
}

static void test_credential_mixes(void **state)
{
    (void)state;
    assert_invalid("HostName=h;DeviceId=d;SharedAccessKey=" KEY ";x509=true", "x509");
    assert_invalid("HostName=h;DeviceId=d;SharedAccessKey=" KEY ";SharedAccessSignature=" SAS_TOK,
                   "SharedAccessSignature");
    assert_invalid("HostName=h;DeviceId=d;x509=true;SharedAccessSignature=" SAS_TOK, "x509");
    assert_invalid("HostName=h;DeviceId=d;x509=false", "x509");
    assert_invalid("HostName=h;DeviceId=d;x509=true;SharedAccessKeyName=p", "SharedAccessKeyName");
    assert_invalid("HostName=h;SharedAccessKeyName=p;SharedAccessKey=" KEY ";x509=true", "x509");
    assert_invalid("HostName=h;SharedAccessKeyName=p;SharedAccessKey=" KEY
                   ";SharedAccessSignature=" SAS_TOK,
                   "SharedAccessSignature");
    assert_invalid("Endpoint=sb://h/;HostName=h;SharedAccessKeyName=p;SharedAccessKey=" KEY,
                   "Endpoint");
}

static void test_bad_values(void **state)
{
    (void)state;
    assert_invalid("HostName=h;DeviceId=d;SharedAccessKey=not-base64!", "SharedAccessKey");
    assert_invalid("HostName=h;SharedAccessKeyName=p;SharedAccessKey=abc", "SharedAccessKey");
    assert_invalid("HostName=h;DeviceId=bad/id;SharedAccessKey=" KEY, "DeviceId");
    assert_invalid("HostName=h;DeviceId=d;ModuleId=m m;SharedAccessKey=" KEY, "ModuleId");
    assert_invalid("HostName=h;DeviceId=d;SharedAccessSignature=sr=x&sig=y&se=1",
                   "SharedAccessSignature");
    assert_invalid("Endpoint=https://h/;SharedAccessKeyName=p;SharedAccessKey=" KEY, "Endpoint");
    assert_invalid("Endpoint=sb://;SharedAccessKeyName=p;SharedAccessKey=" KEY, "Endpoint");
    assert_invalid("HostName=h;DeviceId=d;x509=yes", "x509");
}

static void test_syntax_errors(void **state)
{
    (void)state;
    assert_int_equal(parse("HostName=h;DeviceId=d;HostName=h2"), -1);
    assert_non_null(strstr(err, "HostName"));
    assert_int_equal(parse("HostName=h;x509=true;x509=true"), -1);
    assert_non_null(strstr(err, "x509"));
    /* A segment without '=' might be a pasted key: it must not be echoed. */
    assert_int_equal(parse("HostName=h;RkFLRS1ERVZJQ0UtS0VZ"), -1);
    assert_null(strstr(err, "RkFLRS1"));
    /* A pasted padded key splits at its '=' into an unknown key: ignored, not echoed. */
    assert_int_equal(parse("HostName=h;" KEY), 0);
    assert_int_equal(parse("HostName=h;=value"), -1);
    assert_true(strlen(err) > 0);
    /* A repeated key with the key as value is still not echoed. */
    assert_int_equal(parse("SharedAccessKey=" KEY ";SharedAccessKey=" KEY), -1);
    assert_non_null(strstr(err, "SharedAccessKey"));
    assert_null(strstr(err, "RkFLRS1"));
}

static void test_lenient_parts(void **state)
{
    (void)state;
    /* Empty segments are skipped; unknown keys ignored (even repeated); values may be
     * empty and may contain '='. */
    assert_int_equal(parse(";;HostName=a=b;;Foo=1;Foo=2;Bar=;"), 0);
    assert_string_equal(cs.host_name, "a=b");
    assert_int_equal(parse(""), 0);
    assert_string_equal(cs.host_name, "");
    /* parse resets the output */
    assert_int_equal(parse("DeviceId=x"), 0);
    assert_int_equal(parse("HostName=y"), 0);
    assert_string_equal(cs.device_id, "");
}

static void test_lengths(void **state)
{
    (void)state;
    static char s[CONNSTR_MAX + 16];
    /* A value of CONNSTR_VALUE_MAX-1 characters fits, one more does not. */
    int n = snprintf(s, sizeof(s), "HostName=");
    memset(s + n, 'h', CONNSTR_VALUE_MAX - 1);
    s[n + CONNSTR_VALUE_MAX - 1] = '\0';
    assert_int_equal(parse(s), 0);
    assert_int_equal(strlen(cs.host_name), CONNSTR_VALUE_MAX - 1);
    s[n + CONNSTR_VALUE_MAX - 1] = 'h';
    s[n + CONNSTR_VALUE_MAX] = '\0';
    assert_int_equal(parse(s), -1);
    assert_non_null(strstr(err, "HostName"));
    /* The same for an unknown key, whose name is not echoed. */
    memcpy(s, "Secretly=", 9);
    assert_int_equal(parse(s), -1);
    assert_null(strstr(err, "Secretly"));
    /* A key value one over, and the whole string over CONNSTR_MAX. */
    n = snprintf(s, sizeof(s), "SharedAccessKey=");
    memset(s + n, 'A', CONNSTR_VALUE_MAX);
    s[n + CONNSTR_VALUE_MAX] = '\0';
    assert_int_equal(parse(s), -1);
    assert_null(strstr(err, "AAAA"));
    memset(s, ';', CONNSTR_MAX + 1);
    s[CONNSTR_MAX + 1] = '\0';
    assert_int_equal(parse(s), -1);
    s[CONNSTR_MAX] = '\0';
    assert_int_equal(parse(s), 0);
}

static void test_small_error_buffer(void **state)
{
    (void)state;
    char small[8];
    assert_int_equal(connstr_parse("HostName=h;HostName=h", &cs, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(connstr_parse("HostName=h;HostName=h", &cs, NULL, 0), -1);
    assert_int_equal(connstr_parse("HostName=h", &cs, NULL, 0), 0);
    assert_int_equal(connstr_kind(&cs, NULL, 0), CONNSTR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hub),
        cmocka_unit_test(test_device_key),
        cmocka_unit_test(test_device_sas_and_x509),
        cmocka_unit_test(test_module),
        cmocka_unit_test(test_eventhub),
        cmocka_unit_test(test_missing_parts),
        cmocka_unit_test(test_credential_mixes),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_lenient_parts),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_small_error_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
