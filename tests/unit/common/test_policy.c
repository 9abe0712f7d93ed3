/* Shared access policy rights (spec 1.7). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/policy.h"

#define ALL_RIGHTS                                                                                 \
    (RIGHT_REGISTRY_READ | RIGHT_REGISTRY_WRITE | RIGHT_SERVICE_CONNECT | RIGHT_DEVICE_CONNECT)

static void test_format(void **state)
{
    (void)state;
    char buf[128];
    assert_string_equal(policy_rights_format(ALL_RIGHTS, buf, sizeof(buf)),
                        "RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect");
    assert_string_equal(policy_rights_format(RIGHT_SERVICE_CONNECT, buf, sizeof(buf)),
                        "ServiceConnect");
    assert_string_equal(
        policy_rights_format(RIGHT_DEVICE_CONNECT | RIGHT_REGISTRY_READ, buf, sizeof(buf)),
        "RegistryRead, DeviceConnect");
    assert_string_equal(policy_rights_format(0, buf, sizeof(buf)), "");
    assert_string_equal(policy_rights_format(1u << 10, buf, sizeof(buf)), ""); /* unknown bit */
}

static void test_format_truncation(void **state)
{
    (void)state;
    char buf[20];
    /* "RegistryRead, RegistryWrite" does not fit: a terminated prefix is left. */
    policy_rights_format(ALL_RIGHTS, buf, sizeof(buf));
    assert_true(strlen(buf) < sizeof(buf));
    assert_int_equal(strncmp(buf, "RegistryRead", 12), 0);
    buf[0] = 'x';
    policy_rights_format(ALL_RIGHTS, buf, 0);
    assert_int_equal(buf[0], 'x');
}

static void test_grant(void **state)
{
    (void)state;
    assert_true(policy_rights_grant(ALL_RIGHTS, ALL_RIGHTS));
    assert_true(policy_rights_grant(RIGHT_REGISTRY_READ, RIGHT_REGISTRY_READ));
    assert_false(policy_rights_grant(RIGHT_REGISTRY_READ, RIGHT_REGISTRY_WRITE));
    /* RegistryWrite implies RegistryRead, not the other way round. */
    assert_true(policy_rights_grant(RIGHT_REGISTRY_WRITE, RIGHT_REGISTRY_READ));
    assert_true(
        policy_rights_grant(RIGHT_REGISTRY_WRITE, RIGHT_REGISTRY_READ | RIGHT_REGISTRY_WRITE));
    assert_false(policy_rights_grant(RIGHT_SERVICE_CONNECT, RIGHT_DEVICE_CONNECT));
    assert_false(policy_rights_grant(RIGHT_DEVICE_CONNECT, RIGHT_SERVICE_CONNECT));
    assert_false(policy_rights_grant(RIGHT_SERVICE_CONNECT | RIGHT_REGISTRY_WRITE,
                                     RIGHT_SERVICE_CONNECT | RIGHT_DEVICE_CONNECT));
    assert_false(policy_rights_grant(0, RIGHT_REGISTRY_READ));
    assert_true(policy_rights_grant(0, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_truncation),
        cmocka_unit_test(test_grant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
