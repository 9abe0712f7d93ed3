/* The direct-method broker (hub/methods/broker.h): who may claim a call, the waiting list,
 * and outcomes reaching the home thread's mailbox only until the call is sealed. Leaks and
 * double frees are left to the sanitizers of the test build. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/methods/broker.h"
#include "hub/net/threads.h"

struct seen {
    int count;
    enum method_outcome_kind kind;
    int status;
    char payload[64];
};

static void record(struct method_call *call, struct method_outcome *out)
{
    struct seen *s = call->home_ctx;
    s->count++;
    s->kind = out->kind;
    s->status = out->status;
    snprintf(s->payload, sizeof(s->payload), "%s", out->payload);
    free(out);
}

static struct method_call *new_call(const char *device, struct net_thread *home, struct seen *s)
{
    struct method_call *c =
        method_call_new(device, "reboot", "{\"a\":1}", 7, 30000, 0, home, record, s);
    assert_non_null(c);
    return c;
}

static void test_claims(void **state)
{
    (void)state;
    struct method_call *c = new_call("d1", NULL, NULL);
    assert_string_equal(c->method_name, "reboot");
    assert_string_equal(c->payload, "{\"a\":1}");
    assert_true(method_call_claim_delivery(c, 1234));
    assert_int_equal(atomic_load(&c->delivered_ms), 1234);
    assert_false(method_call_claim_delivery(c, 5678)); /* delivered once only */
    assert_int_equal(method_call_close(c), METHOD_CALL_DELIVERED);
    method_call_unref(c);

    c = new_call("d1", NULL, NULL);
    assert_int_equal(method_call_close(c), METHOD_CALL_OPEN); /* this caller closed it */
    assert_int_equal(method_call_close(c), METHOD_CALL_CLOSED);
    assert_false(method_call_claim_delivery(c, 1));
    method_call_unref(c);
}

static void test_waiting_list(void **state)
{
    (void)state;
    struct method_call *a1 = new_call("devA", NULL, NULL), *a2 = new_call("devA", NULL, NULL);
    struct method_call *b = new_call("devB", NULL, NULL);
    method_waiters_add(a1);
    method_waiters_add(b);
    method_waiters_add(a2);
    assert_int_equal(atomic_load(&a1->refs), 2);

    struct method_call **taken;
    assert_int_equal(method_waiters_take("devC", &taken), 0);
    assert_null(taken);
    assert_int_equal(method_waiters_take("devA", &taken), 2);
    assert_true((taken[0] == a1 && taken[1] == a2) || (taken[0] == a2 && taken[1] == a1));
    for (int i = 0; i < 2; i++)
        method_call_unref(taken[i]); /* the references came with them */
    free(taken);
    assert_int_equal(method_waiters_take("devA", &taken), 0);
    method_waiters_remove(a1); /* no longer listed: no-op */
    assert_int_equal(atomic_load(&a1->refs), 1);

    method_waiters_remove(b);
    assert_int_equal(atomic_load(&b->refs), 1);
    assert_int_equal(method_waiters_take("devB", &taken), 0);
    method_call_unref(a1);
    method_call_unref(a2);
    method_call_unref(b);
}

static void test_outcomes_reach_home_until_sealed(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct net_thread home = {.base = base};
    assert_int_equal(mailbox_init(&home.mailbox, base), 0);
    struct seen seen = {0};
    struct method_call *c = new_call("d1", &home, &seen);

    method_call_post(c, method_outcome_new(METHOD_ANSWERED, 201, "{\"ok\":true}", 11));
    assert_int_equal(atomic_load(&c->refs), 2); /* the mail's */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.kind, METHOD_ANSWERED);
    assert_int_equal(seen.status, 201);
    assert_string_equal(seen.payload, "{\"ok\":true}");
    assert_int_equal(atomic_load(&c->refs), 1);

    method_call_seal(c);
    assert_int_equal(method_call_close(c), METHOD_CALL_CLOSED); /* sealing closes */
    method_call_post(c, method_outcome_new(METHOD_DISCONNECTED, 0, NULL, 0));
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(seen.count, 1); /* not posted after the seal */
    assert_int_equal(atomic_load(&c->refs), 1);

    method_call_unref(c);
    mailbox_free(&home.mailbox);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_waiting_list),
        cmocka_unit_test(test_outcomes_reach_home_until_sealed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
