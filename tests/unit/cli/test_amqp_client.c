/* The pure parts of the CLI's AMQP client: how the hub's error conditions become exit codes
 * (docs/cli.md) and how conditions are described in messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <proton/condition.h>
#include <proton/connection.h>
#include <string.h>

#include "amqp_client.h"
#include "cli.h"

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(amqp_client_exit_for_condition("amqp:unauthorized-access"),
                     CLI_EXIT_UNAUTHORIZED);
    assert_int_equal(amqp_client_exit_for_condition("amqp:not-found"), CLI_EXIT_NOT_FOUND);
    /* 50 messages queued: 5, so that scripts can tell "retry later" apart. */
    assert_int_equal(amqp_client_exit_for_condition("amqp:resource-limit-exceeded"),
                     CLI_EXIT_CONFLICT);
    assert_int_equal(amqp_client_exit_for_condition("amqp:link:message-size-exceeded"),
                     CLI_EXIT_BAD_REQUEST);
    assert_int_equal(amqp_client_exit_for_condition("com.microsoft:argument-error"),
                     CLI_EXIT_BAD_REQUEST);
    assert_int_equal(amqp_client_exit_for_condition("amqp:internal-error"), CLI_EXIT_ERROR);
    assert_int_equal(amqp_client_exit_for_condition("amqp:NOT-FOUND"), CLI_EXIT_ERROR);
    assert_int_equal(amqp_client_exit_for_condition(""), CLI_EXIT_ERROR);
    assert_int_equal(amqp_client_exit_for_condition(NULL), CLI_EXIT_ERROR);
}

static void test_condition_describe(void **state)
{
    (void)state;
    char out[128];
    pn_connection_t *conn = pn_connection(); /* owns a condition to play with */
    pn_condition_t *c = pn_connection_condition(conn);
    amqp_condition_describe(c, out, sizeof(out));
    assert_string_equal(out, "no condition");
    amqp_condition_describe(NULL, out, sizeof(out));
    assert_string_equal(out, "no condition");
    pn_condition_set_name(c, "amqp:not-found");
    amqp_condition_describe(c, out, sizeof(out));
    assert_string_equal(out, "amqp:not-found");
    pn_condition_set_description(c, "device 'x'\nis\x1b not registered");
    amqp_condition_describe(c, out, sizeof(out));
    assert_string_equal(out, "amqp:not-found: device 'x' is  not registered");
    char small[10];
    amqp_condition_describe(c, small, sizeof(small));
    assert_string_equal(small, "amqp:not-"); /* cut to fit, terminated */
    pn_connection_free(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_condition_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
