/* The cloud-to-device queue and feedback queue of the embedded registry
 * (store/c2d_store.h): limits, order, locks across connections and restarts, expiry, the
 * delivery count, feedback batches and their settlement, and the queue going with its
 * device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "store/c2d_store.h"
#include "store/registry.h"
#include "store/scratch_dir.h"

struct fixture {
    char dir[64];
    char path[128];
    struct registry *reg;
    char generation[24];
};

static struct registry *open_or_die(const char *path)
{
    char err[512] = "";
    struct registry *reg = registry_open(path, err, sizeof(err));
    if (!reg)
        fprintf(stderr, "registry_open: %s\n", err);
    assert_non_null(reg);
    return reg;
}

static void create_device(struct registry *reg, const char *id, char *generation)
{
    struct device d, out;
    memset(&d, 0, sizeof(d));
    snprintf(d.device_id, sizeof(d.device_id), "%s", id);
    d.enabled = true;
    d.auth_type = DEVICE_AUTH_SAS;
    assert_int_equal(registry_create_device(reg, &d, &out), REG_OK);
    if (generation)
        snprintf(generation, 24, "%s", out.generation_id);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (scratch_dir_make(f->dir, sizeof(f->dir), "c2d") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
    f->reg = open_or_die(f->path);
    create_device(f->reg, "dev1", f->generation);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    registry_close(f->reg);
    scratch_dir_remove(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    registry_close(f->reg);
    f->reg = open_or_die(f->path);
}

/* A message as the AMQP decoder would hand it over (members malloc'ed). */
static void make_message(struct c2d_message *m, const char *device, const char *mid,
                         enum c2d_ack ack, bool ack_given)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->device_id, sizeof(m->device_id), "%s", device);
    m->message_id = mid ? strdup(mid) : NULL;
    m->ack = ack;
    m->ack_given = ack_given;
    m->app_properties = strdup("color=red");
    m->body = (uint8_t *)strdup("hello");
    m->body_len = 5;
}

static int enqueue(struct registry *reg, const char *device, const char *mid, enum c2d_ack ack,
                   int64_t now)
{
    struct c2d_message m;
    make_message(&m, device, mid, ack, true);
    int rc = c2d_enqueue(reg, &m, now);
    c2d_message_free(&m);
    return rc;
}

static int64_t count_of(struct registry *reg, const char *device, int64_t now)
{
    int64_t n = -1;
    assert_int_equal(c2d_count(reg, device, now, &n), REG_OK);
    return n;
}

static size_t take(struct registry *reg, const char *device, int64_t now, size_t max,
                   struct c2d_message *out)
{
    size_t n = 0;
    assert_int_equal(c2d_take(reg, device, now, max, out, &n, NULL), REG_OK);
    return n;
}

static void free_all(struct c2d_message *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c2d_message_free(&v[i]);
}

static size_t feedback(struct registry *reg, int64_t now, int64_t delay, struct c2d_feedback *out,
                       int64_t *next_due)
{
    size_t n = 0;
    int64_t due = 0;
    assert_int_equal(c2d_feedback_take(reg, now, delay, C2D_FEEDBACK_BATCH_MAX, out, &n,
                                       next_due ? next_due : &due),
                     REG_OK);
    return n;
}

static void test_unknown_device_is_refused(void **state)
{
    struct fixture *f = *state;
    int64_t now = time_now_ms();
    assert_int_equal(enqueue(f->reg, "nobody", "m1", C2D_ACK_FULL, now), REG_NOT_FOUND);
    assert_int_equal(count_of(f->reg, "nobody", now), 0);
}

static void test_queue_limit_and_device_count(void **state)
{
    struct fixture *f = *state;
    int64_t now = time_now_ms();
    char mid[32];
    for (int i = 0; i < C2D_QUEUE_MAX; i++) {
        snprintf(mid, sizeof(mid), "m%d", i);
        assert_int_equal(enqueue(f->reg, "dev1", mid, C2D_ACK_NONE, now), REG_OK);
    }
    assert_int_equal(enqueue(f->reg, "dev1", "one-too-many", C2D_ACK_NONE, now), C2D_QUEUE_FULL);
    assert_int_equal(count_of(f->reg, "dev1", now), C2D_QUEUE_MAX);
    struct device d;
    assert_int_equal(registry_get_device(f->reg, "dev1", &d), REG_OK);
    assert_int_equal(d.c2d_message_count, C2D_QUEUE_MAX);
    struct device *list = NULL;
    size_t n = 0;
    assert_int_equal(registry_list_devices(f->reg, 10, &list, &n), REG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].c2d_message_count, C2D_QUEUE_MAX);
    free(list);
}

static void test_take_order_fields_and_locks(void **state)
{
    struct fixture *f = *state;
    int64_t now = time_now_ms();
    struct c2d_message m;
    make_message(&m, "dev1", "first", C2D_ACK_FULL, true);
    m.correlation_id = strdup("corr");
    m.user_id = strdup("user");
    m.content_type = strdup("application/json");
    m.content_encoding = strdup("utf-8");
    m.expiry_given = true;
    m.expiry_ms = now + 60000;
    assert_int_equal(c2d_enqueue(f->reg, &m, now), REG_OK);
    c2d_message_free(&m);
    assert_int_equal(enqueue(f->reg, "dev1", NULL, C2D_ACK_NONE, now), REG_OK);
    /* ack not given: stored as unset */
    make_message(&m, "dev1", "third", C2D_ACK_NONE, false);
    assert_int_equal(c2d_enqueue(f->reg, &m, now), REG_OK);
    assert_int_equal(m.expiry_ms, now + C2D_TTL_DEFAULT_MS);
    c2d_message_free(&m);

    struct c2d_message out[8];
    assert_int_equal(take(f->reg, "dev1", now, 2, out), 2);
    assert_string_equal(out[0].message_id, "first");
    assert_string_equal(out[0].correlation_id, "corr");
    assert_string_equal(out[0].user_id, "user");
    assert_string_equal(out[0].content_type, "application/json");
    assert_string_equal(out[0].content_encoding, "utf-8");
    assert_true(out[0].ack_given);
    assert_int_equal(out[0].ack, C2D_ACK_FULL);
    assert_true(out[0].expiry_given);
    assert_int_equal(out[0].expiry_ms, now + 60000);
    assert_int_equal(out[0].delivery_count, 1);
    assert_string_equal(out[0].app_properties, "color=red");
    assert_int_equal(out[0].body_len, 5);
    assert_memory_equal(out[0].body, "hello", 5);
    assert_null(out[1].message_id);
    assert_null(out[1].content_type);
    assert_true(out[0].seq < out[1].seq);
    int64_t first = out[0].seq, second = out[1].seq;
    free_all(out, 2);

    /* Locked ones are not handed out twice; the third comes next. */
    assert_int_equal(take(f->reg, "dev1", now, 8, out), 1);
    assert_string_equal(out[0].message_id, "third");
    assert_false(out[0].ack_given);
    int64_t third = out[0].seq;
    free_all(out, 1);
    assert_int_equal(take(f->reg, "dev1", now, 8, out), 0);

    /* Released: available again with the delivery count kept. */
    int64_t rel[] = {first, second};
    assert_int_equal(c2d_release(f->reg, rel, 2, now, NULL), REG_OK);
    assert_int_equal(take(f->reg, "dev1", now, 8, out), 2);
    assert_int_equal(out[0].seq, first);
    assert_int_equal(out[0].delivery_count, 2);
    free_all(out, 2);

    /* Completion: gone from the queue, Success feedback for the full-ack one only. */
    bool added = false;
    assert_int_equal(c2d_complete(f->reg, first, now, &added), REG_OK);
    assert_true(added);
    added = false;
    assert_int_equal(c2d_complete(f->reg, second, now, &added), REG_OK);
    assert_false(added);
    assert_int_equal(c2d_complete(f->reg, second, now, NULL), REG_NOT_FOUND);
    assert_int_equal(c2d_complete(f->reg, third, now, NULL), REG_OK);
    assert_int_equal(count_of(f->reg, "dev1", now), 0);
    struct c2d_feedback fb[C2D_FEEDBACK_BATCH_MAX];
    assert_int_equal(feedback(f->reg, now, 0, fb, NULL), 1);
    assert_string_equal(fb[0].original_message_id, "first");
    assert_string_equal(fb[0].device_id, "dev1");
    assert_string_equal(fb[0].device_generation_id, f->generation);
    assert_int_equal(fb[0].status, C2D_FEEDBACK_SUCCESS);
    assert_int_equal(fb[0].enqueued_ms, now);
}

static void test_restart_voids_locks(void **state)
{
    struct fixture *f = *state;
    int64_t now = time_now_ms();
    assert_int_equal(enqueue(f->reg, "dev1", "a", C2D_ACK_NONE, now), REG_OK);
    struct c2d_message out[2];
    assert_int_equal(take(f->reg, "dev1", now, 2, out), 1);
    free_all(out, 1);
    assert_int_equal(take(f->reg, "dev1", now, 2, out), 0);
    reopen(f); /* a crash: nobody released it */
    assert_int_equal(take(f->reg, "dev1", now, 2, out), 1);
    assert_string_equal(out[0].message_id, "a");
    assert_int_equal(out[0].delivery_count, 2);
    free_all(out, 1);
}

static void test_expired_messages_make_feedback(void **state)
{
    struct fixture *f = *state;
    int64_t now = time_now_ms();
    struct c2d_message m;
    make_message(&m, "dev1", "short", C2D_ACK_NEGATIVE, true);
    m.expiry_given = true;
    m.expiry_ms = now + 1000;
    assert_int_equal(c2d_enqueue(f->reg, &m, now), REG_OK);
    c2d_message_free(&m);
    make_message(&m, "dev1", "quiet", C2D_ACK_POSITIVE, true);
    m.expiry_given = true;
    m.expiry_ms = now + 1000;
    assert_int_equal(c2d_enqueue(f->reg, &m, now), REG_OK);
    c2d_message_free(&m);
    /* A later expiry is capped at two days. */
    make_message(&m, "dev1", "long", C2D_ACK_NONE, true);
    m.expiry_given = true;
    m.expiry_ms = now + 10 * C2D_TTL_MAX_MS;
    assert_int_equal(c2d_enqueue(f->reg, &m, now), REG_OK);
    assert_int_equal(m.expiry_ms, now + C2D_TTL_MAX_MS);
    c2d_message_free(&m);

    struct c2d_feedback fb[C2D_FEEDBACK_BATCH_MAX];
    int64_t due = 0;
    assert_int_equal(feedback(f->reg, now, 0, fb, &due), 0);
    assert_int_equal(due, now + 1000); /* the expiry of the negative-ack message */
    assert_int_equal(count_of(f->reg, "dev1", now + 1000), 1);

    struct c2d_message out[4];
    bool added = false;
    size_t n = 0;
    assert_int_equal(c2d_take(f->reg, "dev1", now + 1000, 4, out, &n, &added), REG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].message_id, "long");
    assert_true(added);
    free_all(out, 1);
    assert_int_equal(feedback(f->reg, now + 1000, 0, fb, NULL), 1);
    assert_string_equal(fb[0].original_message_id, "short");
    assert_int_equal(fb[0].status, C2D_FEEDBACK_EXPIRED);
    assert_int_equal(fb[0].enqueued_ms, now + 1000);
}

static void test_delivery_count_exceeded(void **state)
{
    struct fixture *f = *state;
    int64_t now = time_now_ms();
    assert_int_equal(enqueue(f->reg, "dev1", "tired", C2D_ACK_FULL, now), REG_OK);
    struct c2d_message out[1];
    for (int i = 1; i <= C2D_MAX_DELIVERY_COUNT; i++) {
        assert_int_equal(take(f->reg, "dev1", now, 1, out), 1);
        assert_int_equal(out[0].delivery_count, i);
        int64_t seq = out[0].seq;
        free_all(out, 1);
        bool added = false;
        assert_int_equal(c2d_release(f->reg, &seq, 1, now, &added), REG_OK);
        assert_int_equal(added, i == C2D_MAX_DELIVERY_COUNT);
    }
    assert_int_equal(take(f->reg, "dev1", now, 1, out), 0);
    struct c2d_feedback fb[C2D_FEEDBACK_BATCH_MAX];
    assert_int_equal(feedback(f->reg, now, 0, fb, NULL), 1);
    assert_int_equal(fb[0].status, C2D_FEEDBACK_DELIVERY_COUNT_EXCEEDED);
    assert_string_equal(c2d_feedback_status_name(fb[0].status), "DeliveryCountExceeded");
}

static void complete_one(struct registry *reg, const char *mid, int64_t now)
{
    assert_int_equal(enqueue(reg, "dev1", mid, C2D_ACK_POSITIVE, now), REG_OK);
    struct c2d_message out[1];
    assert_int_equal(take(reg, "dev1", now, 1, out), 1);
    assert_int_equal(c2d_complete(reg, out[0].seq, now, NULL), REG_OK);
    free_all(out, 1);
}

static void test_feedback_batches_and_settlement(void **state)
{
    struct fixture *f = *state;
    int64_t now = time_now_ms();
    complete_one(f->reg, "a", now);
    complete_one(f->reg, "b", now);
    struct c2d_feedback fb[C2D_FEEDBACK_BATCH_MAX];
    int64_t due = 0;
    /* Not due before the delay has passed. */
    assert_int_equal(feedback(f->reg, now + 10, 1000, fb, &due), 0);
    assert_true(due > now && due <= now + 1000 + 10);
    assert_int_equal(feedback(f->reg, due, 1000, fb, NULL), 2);
    int64_t ids[2] = {fb[0].id, fb[1].id};
    /* Locked: a second receiver gets nothing. */
    assert_int_equal(feedback(f->reg, due, 0, fb, NULL), 0);
    /* Released: available again. */
    assert_int_equal(c2d_feedback_settle(f->reg, ids, 2, C2D_SETTLE_RELEASE), REG_OK);
    assert_int_equal(feedback(f->reg, due, 0, fb, NULL), 2);
    assert_int_equal(fb[0].id, ids[0]);
    /* Accepted one, rejected the other: both gone. */
    assert_int_equal(c2d_feedback_settle(f->reg, &ids[0], 1, C2D_SETTLE_ACCEPT), REG_OK);
    assert_int_equal(c2d_feedback_settle(f->reg, &ids[1], 1, C2D_SETTLE_REJECT), REG_OK);
    reopen(f);
    assert_int_equal(feedback(f->reg, due, 0, fb, NULL), 0);

    /* A full batch goes at once, whatever the delay; the rest waits. */
    for (int i = 0; i < C2D_FEEDBACK_BATCH_MAX + 3; i++) {
        char mid[16];
        snprintf(mid, sizeof(mid), "n%d", i);
        complete_one(f->reg, mid, now);
    }
    assert_int_equal(feedback(f->reg, now, 60000, fb, NULL), C2D_FEEDBACK_BATCH_MAX);
    assert_string_equal(fb[0].original_message_id, "n0");
    assert_int_equal(feedback(f->reg, now, 60000, fb, &due), 0);
    assert_int_equal(due, now + 60000);
}

static void test_feedback_expires(void **state)
{
    struct fixture *f = *state;
    int64_t now = time_now_ms();
    complete_one(f->reg, "old", now);
    struct c2d_feedback fb[C2D_FEEDBACK_BATCH_MAX];
    assert_int_equal(feedback(f->reg, now + C2D_FEEDBACK_TTL_MS, 0, fb, NULL), 0);
    reopen(f);
    assert_int_equal(feedback(f->reg, now, 0, fb, NULL), 0);
}

static void test_queue_goes_with_the_device(void **state)
{
    struct fixture *f = *state;
    int64_t now = time_now_ms();
    assert_int_equal(enqueue(f->reg, "dev1", "x", C2D_ACK_NONE, now), REG_OK);
    assert_int_equal(registry_delete_device(f->reg, "dev1", NULL), REG_OK);
    create_device(f->reg, "dev1", NULL);
    assert_int_equal(count_of(f->reg, "dev1", now), 0);
    struct c2d_message out[1];
    assert_int_equal(take(f->reg, "dev1", now, 1, out), 0);
}

static void test_ack_names(void **state)
{
    (void)state;
    enum c2d_ack a;
    assert_int_equal(c2d_ack_parse("FULL", &a), 0);
    assert_int_equal(a, C2D_ACK_FULL);
    assert_int_equal(c2d_ack_parse("Negative", &a), 0);
    assert_int_equal(a, C2D_ACK_NEGATIVE);
    assert_int_equal(c2d_ack_parse("positive", &a), 0);
    assert_int_equal(c2d_ack_parse("none", &a), 0);
    assert_int_equal(a, C2D_ACK_NONE);
    assert_int_equal(c2d_ack_parse("fulll", &a), -1);
    assert_int_equal(c2d_ack_parse("", &a), -1);
    assert_string_equal(c2d_ack_name(C2D_ACK_POSITIVE), "positive");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_device_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_limit_and_device_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_order_fields_and_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_voids_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_messages_make_feedback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_count_exceeded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_batches_and_settlement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_goes_with_the_device, setup, teardown),
        cmocka_unit_test(test_ack_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
