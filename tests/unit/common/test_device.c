/* Identity validation rules (spec 0.3, 1.1, 1.9). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/device.h"

static void test_id_allowed_characters(void **state)
{
    (void)state;
    static const char specials[] = "-.+%_#*?!(),=@$'";
    char id[4];
    for (const char *p = specials; *p; p++) {
        snprintf(id, sizeof(id), "a%cb", *p);
        if (!device_id_valid(id)) {
            print_error("'%c' rejected\n", *p);
            fail();
        }
        id[0] = *p; /* alone, too */
        id[1] = '\0';
        assert_true(device_id_valid(id));
    }
    assert_true(device_id_valid(specials));
    assert_true(device_id_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"));
    assert_true(device_id_valid("dev1"));
}

static void test_id_length(void **state)
{
    (void)state;
    char id[DEVICE_ID_MAX + 2];
    memset(id, 'd', sizeof(id));
    id[DEVICE_ID_MAX] = '\0';
    assert_true(device_id_valid(id)); /* 128 */
    id[DEVICE_ID_MAX] = 'd';
    id[DEVICE_ID_MAX + 1] = '\0';
    assert_false(device_id_valid(id)); /* 129 */
    assert_false(device_id_valid(""));
    assert_true(device_id_valid("x"));
}

static void test_id_bad_characters(void **state)
{
    (void)state;
    static const char bad[] = " /\\:;&<>\"`^{}[]|~\t\n\x7f";
    char id[4];
    for (const char *p = bad; *p; p++) {
        snprintf(id, sizeof(id), "a%cb", *p);
        if (device_id_valid(id)) {
            print_error("0x%02x accepted\n", (unsigned char)*p);
            fail();
        }
    }
    assert_false(device_id_valid("caf\xc3\xa9")); /* non-ASCII */
    assert_false(device_id_valid("\x80"));
}

static void test_key_valid(void **state)
{
    (void)state;
    /* 32 bytes (what the hub generates), and the 16 and 64 byte limits. */
    assert_true(device_key_valid("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
    assert_true(device_key_valid("AAECAwQFBgcICQoLDA0ODw==")); /* 16 */
    assert_false(device_key_valid("AAECAwQFBgcICQoLDA0O"));    /* 15 */
    char key[200];
    memset(key, 'A', 88);
    memcpy(key + 84, "AA==", 5); /* 64 bytes */
    assert_true(device_key_valid(key));
    memcpy(key + 84, "AAA=", 5); /* 65 bytes */
    assert_false(device_key_valid(key));
    memset(key, 'A', 180);
    key[180] = '\0'; /* 135 bytes, and longer than DEVICE_KEY_MAX */
    assert_false(device_key_valid(key));
    assert_false(device_key_valid(""));
    assert_false(device_key_valid("not a key at all, nope!!"));
    assert_false(device_key_valid("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));  /* no pad */
    assert_false(device_key_valid("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=")); /* spare bits */
}

static void test_thumbprint_valid(void **state)
{
    (void)state;
    assert_true(device_thumbprint_valid("0123456789abcdef0123456789ABCDEF01234567")); /* SHA-1 */
    assert_true(device_thumbprint_valid(
        "0123456789abcdef0123456789abcdef0123456789ABCDEF0123456789ABCDEF"));         /* SHA-256 */
    assert_false(device_thumbprint_valid("0123456789abcdef0123456789abcdef0123456")); /* 39 */
    assert_false(device_thumbprint_valid("0123456789abcdef0123456789abcdef012345678")); /* 41 */
    assert_false(device_thumbprint_valid("0123456789abcdef0123456789abcdef0123456g"));
    assert_false(device_thumbprint_valid("01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab"));
    assert_false(device_thumbprint_valid(""));
}

static void test_auth_type_names(void **state)
{
    (void)state;
    assert_string_equal(device_auth_type_name(DEVICE_AUTH_SAS), "sas");
    assert_string_equal(device_auth_type_name(DEVICE_AUTH_SELF_SIGNED), "selfSigned");
    assert_string_equal(device_auth_type_name(DEVICE_AUTH_CA), "certificateAuthority");
    assert_string_equal(device_auth_type_name(DEVICE_AUTH_NONE), "none");
    assert_string_equal(device_auth_type_name((enum device_auth_type)99), "none");
    for (int t = DEVICE_AUTH_SAS; t <= DEVICE_AUTH_NONE; t++)
        assert_int_equal(device_auth_type_parse(device_auth_type_name(t)), t);
    assert_int_equal(device_auth_type_parse("SAS"), -1); /* case-sensitive */
    assert_int_equal(device_auth_type_parse(""), -1);
    assert_int_equal(device_auth_type_parse("x509"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_allowed_characters), cmocka_unit_test(test_id_length),
        cmocka_unit_test(test_id_bad_characters),     cmocka_unit_test(test_key_valid),
        cmocka_unit_test(test_thumbprint_valid),      cmocka_unit_test(test_auth_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
