/* AMQP link addresses (spec 0.3, 5.4): normalisation and classification. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hub/amqp/address.h"

static void test_forms(void **state)
{
    (void)state;
    struct amqp_address a;
    assert_int_equal(amqp_address_parse("$cbs", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_CBS);
    assert_int_equal(amqp_address_parse("/$management", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_MANAGEMENT);
    assert_int_equal(amqp_address_parse("amqps://myhub.localhost:5671/$cbs", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_CBS);
    assert_int_equal(amqp_address_parse("fakehub/ConsumerGroups/$Default/Partitions/0", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_PARTITION);
    assert_string_equal(a.entity, "fakehub");
    assert_string_equal(a.consumer_group, "$Default");
    assert_string_equal(a.partition, "0");
    assert_int_equal(amqp_address_parse("amqps://h/hub/consumergroups/cg1/partitions/12", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_PARTITION);
    assert_string_equal(a.path, "hub/consumergroups/cg1/partitions/12");
    assert_string_equal(a.consumer_group, "cg1");
}

static void test_other_and_bad(void **state)
{
    (void)state;
    struct amqp_address a;
    assert_int_equal(amqp_address_parse(NULL, &a), -1);
    assert_int_equal(amqp_address_parse("", &a), -1);
    assert_int_equal(amqp_address_parse("///", &a), -1);
    assert_int_equal(amqp_address_parse("/messages/devicebound", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_OTHER);
    assert_int_equal(amqp_address_parse("hub/ConsumerGroups/$Default/Partitions/0/x", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_OTHER);
    assert_int_equal(amqp_address_parse("hub/ConsumerGroups//Partitions/0", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_OTHER);
    assert_int_equal(amqp_address_parse("hub/Groups/$Default/Partitions/0", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_OTHER);
    char longer[AMQP_ADDRESS_MAX + 10];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(amqp_address_parse(longer, &a), -1);
}

static void test_partition_ids(void **state)
{
    (void)state;
    uint32_t p;
    assert_int_equal(amqp_partition_parse("0", 4, &p), 0);
    assert_int_equal(p, 0);
    assert_int_equal(amqp_partition_parse("3", 4, &p), 0);
    assert_int_equal(p, 3);
    assert_int_equal(amqp_partition_parse("4", 4, &p), -1);
    assert_int_equal(amqp_partition_parse("99", 4, &p), -1);
    assert_int_equal(amqp_partition_parse("01", 4, &p), -1);
    assert_int_equal(amqp_partition_parse("-1", 4, &p), -1);
    assert_int_equal(amqp_partition_parse("", 4, &p), -1);
    assert_int_equal(amqp_partition_parse("1x", 4, &p), -1);
    assert_int_equal(amqp_partition_parse("99999999999", 4, &p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_other_and_bad),
        cmocka_unit_test(test_partition_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
