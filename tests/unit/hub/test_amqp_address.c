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
    assert_int_equal(amqp_address_parse("/messages/devicebound/x", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_OTHER);
    assert_int_equal(amqp_address_parse("/messages/servicebound", &a), 0);
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

/* Spec 0.3 and 7 item 16: Node and C spell the service endpoints differently. */
static void test_service_endpoints(void **state)
{
    (void)state;
    struct amqp_address a;
    static const char *const c2d[] = {"/messages/devicebound", "messages/deviceBound",
                                      "amqps://myhub.localhost/messages/deviceBound",
                                      "amqps://localhost:5671/MESSAGES/DEVICEBOUND"};
    for (size_t i = 0; i < sizeof(c2d) / sizeof(c2d[0]); i++) {
        assert_int_equal(amqp_address_parse(c2d[i], &a), 0);
        assert_int_equal(a.kind, AMQP_ADDR_C2D);
    }
    static const char *const fb[] = {"/messages/serviceBound/feedback",
                                     "amqps://h/messages/servicebound/feedback",
                                     "messages/ServiceBound/Feedback"};
    for (size_t i = 0; i < sizeof(fb) / sizeof(fb[0]); i++) {
        assert_int_equal(amqp_address_parse(fb[i], &a), 0);
        assert_int_equal(a.kind, AMQP_ADDR_FEEDBACK);
    }
    assert_int_equal(amqp_address_parse("/messages/serviceBound/filenotifications", &a), 0);
    assert_int_equal(a.kind, AMQP_ADDR_OTHER);
}

static void test_c2d_targets(void **state)
{
    (void)state;
    char id[129];
    assert_int_equal(amqp_c2d_target_parse("/devices/dev1/messages/devicebound", id, sizeof(id)),
                     0);
    assert_string_equal(id, "dev1");
    assert_int_equal(amqp_c2d_target_parse("devices/dev1/messages/deviceBound", id, sizeof(id)), 0);
    assert_int_equal(amqp_c2d_target_parse("amqps://h:5671/Devices/a%2Bb%20c/Messages/DeviceBound",
                                           id, sizeof(id)),
                     -1); /* a space is not a valid id character */
    assert_int_equal(
        amqp_c2d_target_parse("/devices/a%2Bb+c%24/messages/devicebound", id, sizeof(id)), 0);
    assert_string_equal(id, "a+b+c$");
    assert_int_equal(
        amqp_c2d_target_parse("/devices/d/modules/m/messages/deviceBound", id, sizeof(id)), -2);
    assert_int_equal(amqp_c2d_target_parse(NULL, id, sizeof(id)), -1);
    assert_int_equal(amqp_c2d_target_parse("", id, sizeof(id)), -1);
    assert_int_equal(amqp_c2d_target_parse("/devices//messages/devicebound", id, sizeof(id)), -1);
    assert_int_equal(amqp_c2d_target_parse("/devices/d/messages/events", id, sizeof(id)), -1);
    assert_int_equal(amqp_c2d_target_parse("/devices/d/messages/devicebound/x", id, sizeof(id)),
                     -1);
    assert_int_equal(amqp_c2d_target_parse("/devices/%zz/messages/devicebound", id, sizeof(id)),
                     -1);
    assert_int_equal(amqp_c2d_target_parse("/devices/a%00b/messages/devicebound", id, sizeof(id)),
                     -1);
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
        cmocka_unit_test(test_service_endpoints),
        cmocka_unit_test(test_c2d_targets),
        cmocka_unit_test(test_partition_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
