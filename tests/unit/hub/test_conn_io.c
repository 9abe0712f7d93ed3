/* The connection I/O layer without a bufferevent (src/hub/mqtt/conn_io.c), over a real
 * socketpair and event loop: partial input kept and offered again, reading paused and
 * resumed, output batched then written, a write larger than the socket buffer, the end of
 * stream, the deadline, and that nothing stays allocated once the bytes are gone. TLS is
 * covered by the integration tests (test_04, test_05) with real clients. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/isotime.h"
#include "hub/mqtt/conn_io.h"

/* The owner: records are one length byte then that many bytes. */
struct owner {
    struct conn_io io;
    int peer;
    uint8_t got[1 << 16];
    size_t got_len;
    int records;
    int pause_after; /* stop reading after this many records (0: never) */
    int fresh_calls, stale_calls;
    int drained, deadlines, closed;
    char why[256];
};

static void nop(struct conn_io *io)
{
    (void)io;
}

static size_t input(struct conn_io *io, const uint8_t *data, size_t len, bool fresh)
{
    struct owner *o = (struct owner *)io;
    if (fresh)
        o->fresh_calls++;
    else
        o->stale_calls++;
    size_t off = 0;
    while (off < len && io->reading) {
        size_t n = data[off];
        if (len - off < 1 + n)
            break;
        memcpy(o->got + o->got_len, data + off + 1, n);
        o->got_len += n;
        off += 1 + n;
        if (++o->records == o->pause_after)
            conn_io_set_reading(io, false);
    }
    return off;
}

static void drained(struct conn_io *io)
{
    ((struct owner *)io)->drained++;
}

static void deadline(struct conn_io *io)
{
    ((struct owner *)io)->deadlines++;
}

static void closed(struct conn_io *io, const char *why)
{
    struct owner *o = (struct owner *)io;
    o->closed++;
    snprintf(o->why, sizeof(o->why), "%s", why ? why : "(end of stream)");
    conn_io_close(io);
}

static const struct conn_io_ops ops = {nop, nop, input, drained, deadline, closed};

static struct event_base *base;

static struct owner *open_owner(void)
{
    struct owner *o = calloc(1, sizeof(*o));
    assert_non_null(o);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    o->peer = sv[1];
    assert_int_equal(conn_io_open(&o->io, base, sv[0], NULL, &ops), 0);
    return o;
}

static void close_owner(struct owner *o)
{
    conn_io_close(&o->io);
    close(o->peer);
    free(o);
}

static void spin(void)
{
    for (int i = 0; i < 4; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static int setup(void **state)
{
    (void)state;
    base = event_base_new();
    return base ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    event_base_free(base);
    return 0;
}

static void test_partial_record_is_kept_then_completed(void **state)
{
    (void)state;
    struct owner *o = open_owner();
    assert_int_equal(write(o->peer, "\x05he", 3), 3);
    spin();
    assert_int_equal(o->records, 0);
    assert_non_null(o->io.in); /* the half record waits */
    assert_int_equal(write(o->peer, "llo\x02ok", 6), 6);
    spin();
    assert_int_equal(o->records, 2);
    assert_memory_equal(o->got, "hellook", 7);
    assert_null(o->io.in); /* nothing left: nothing held */
    assert_null(o->io.out);
    close_owner(o);
}

static void test_pause_keeps_input_and_resume_offers_it(void **state)
{
    (void)state;
    struct owner *o = open_owner();
    o->pause_after = 1;
    assert_int_equal(write(o->peer,
                           "\x01"
                           "a\x01"
                           "b\x01"
                           "c",
                           6),
                     6);
    spin();
    assert_int_equal(o->records, 1);
    assert_false(o->io.reading);
    assert_non_null(o->io.in);
    assert_int_equal(o->io.armed & EV_READ, 0); /* the socket is not watched meanwhile */
    conn_io_set_reading(&o->io, true);
    conn_io_resume_input(&o->io);
    assert_int_equal(o->records, 3);
    assert_int_equal(o->stale_calls, 1);
    assert_memory_equal(o->got, "abc", 3);
    assert_null(o->io.in);
    close_owner(o);
}

static void test_writes_are_batched_and_drained(void **state)
{
    (void)state;
    struct owner *o = open_owner();
    assert_int_equal(conn_io_write(&o->io, "one ", 4), 0);
    assert_int_equal(conn_io_write(&o->io, "two", 3), 0);
    assert_int_equal(conn_io_output_pending(&o->io), 7);
    spin();
    char buf[16] = {0};
    assert_int_equal(read(o->peer, buf, sizeof(buf)), 7);
    assert_string_equal(buf, "one two");
    assert_int_equal(o->drained, 1);
    assert_null(o->io.out);
    close_owner(o);
}

static void test_write_larger_than_the_socket_buffer(void **state)
{
    (void)state;
    struct owner *o = open_owner();
    size_t total = 4 << 20;
    uint8_t *src = malloc(total), *dst = malloc(total);
    assert_non_null(src);
    assert_non_null(dst);
    for (size_t i = 0; i < total; i++)
        src[i] = (uint8_t)(i * 7 + i / 251);
    assert_int_equal(conn_io_write(&o->io, src, total), 0);
    size_t got = 0;
    bool saw_blocked = false;
    while (got < total) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        saw_blocked |= o->io.write_blocked;
        ssize_t n = read(o->peer, dst + got, total - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    spin();
    assert_true(saw_blocked);
    assert_memory_equal(src, dst, total);
    assert_int_equal(o->drained, 1);
    assert_null(o->io.out);
    free(src);
    free(dst);
    close_owner(o);
}

static void test_end_of_stream_after_the_last_bytes(void **state)
{
    (void)state;
    struct owner *o = open_owner();
    assert_int_equal(write(o->peer, "\x02hi", 3), 3);
    shutdown(o->peer, SHUT_WR);
    spin();
    assert_int_equal(o->records, 1);
    assert_int_equal(o->closed, 1);
    assert_string_equal(o->why, "(end of stream)");
    assert_false(o->io.open);
    assert_int_equal(conn_io_fd(&o->io), -1);
    close_owner(o);
}

static void test_deadline_fires_and_can_be_moved(void **state)
{
    (void)state;
    struct owner *o = open_owner();
    conn_io_set_deadline(&o->io, time_now_ms() + 3600 * 1000);
    conn_io_set_deadline(&o->io, time_now_ms() + 20); /* replaces the far one */
    while (o->deadlines == 0)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(o->deadlines, 1);
    assert_int_equal(o->io.deadline_ms, 0);
    close_owner(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_record_is_kept_then_completed),
        cmocka_unit_test(test_pause_keeps_input_and_resume_offers_it),
        cmocka_unit_test(test_writes_are_batched_and_drained),
        cmocka_unit_test(test_write_larger_than_the_socket_buffer),
        cmocka_unit_test(test_end_of_stream_after_the_last_bytes),
        cmocka_unit_test(test_deadline_fires_and_can_be_moved),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
