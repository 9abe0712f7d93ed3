/* Our SASL layer (spec 5.1): the bytes @azure/event-hubs really sends
 * (fixtures/wire/amqps-eventhubs.txt), no-SASL clients, PLAIN, and hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hub/amqp/sasl.h"

static const uint8_t sasl_header[8] = {'A', 'M', 'Q', 'P', 3, 1, 0, 0};
static const uint8_t amqp_header[8] = {'A', 'M', 'Q', 'P', 0, 1, 0, 0};

/* sasl-init(ANONYMOUS, initial-response "\0iothubowner", hostname "localhost"). */
static const uint8_t eh_init[] = {
    0x00, 0x00, 0x00, 0x38, 0x02, 0x01, 0x00, 0x00, 0x00, 0x53, 0x41, 0xd0, 0x00, 0x00,
    0x00, 0x28, 0x00, 0x00, 0x00, 0x03, 0xa3, 0x09, 'A',  'N',  'O',  'N',  'Y',  'M',
    'O',  'U',  'S',  0xa0, 0x0c, 0x00, 'i',  'o',  't',  'h',  'u',  'b',  'o',  'w',
    'n',  'e',  'r',  0xa1, 0x09, 'l',  'o',  'c',  'a',  'l',  'h',  'o',  's',  't'};

struct seen {
    int calls;
    char mechanism[32];
    char hostname[64];
    size_t response_len;
    bool verdict;
};

static bool check(void *ctx, const struct amqp_sasl_init *init, char *why, size_t cap)
{
    struct seen *s = ctx;
    s->calls++;
    strcpy(s->mechanism, init->mechanism);
    strcpy(s->hostname, init->hostname);
    s->response_len = init->response_len;
    if (!s->verdict)
        strncpy(why, "refused by the test", cap - 1);
    return s->verdict;
}

static void test_event_hubs_anonymous(void **state)
{
    (void)state;
    struct amqp_sasl s;
    amqp_sasl_init(&s);
    struct seen seen = {.verdict = true};
    uint8_t in[256], out[AMQP_SASL_OUT_MAX];
    size_t consumed, outlen;
    /* The header alone: we answer with ours and the mechanisms. */
    assert_int_equal(amqp_sasl_feed(&s, sasl_header, 8, &consumed, out, &outlen, check, &seen),
                     AMQP_SASL_MORE);
    assert_int_equal(consumed, 8);
    assert_memory_equal(out, sasl_header, 8);
    assert_true(outlen > 16);
    assert_int_equal(out[8 + 5], 1);     /* SASL frame */
    assert_int_equal(out[8 + 10], 0x40); /* sasl-mechanisms */
    assert_non_null(memmem(out, outlen, "MSSBCBS", 7));
    assert_non_null(memmem(out, outlen, "ANONYMOUS", 9));
    assert_non_null(memmem(out, outlen, "PLAIN", 5));
    /* sasl-init split in two reads, then the AMQP header pipelined behind it. */
    assert_int_equal(amqp_sasl_feed(&s, eh_init, 10, &consumed, out, &outlen, check, &seen),
                     AMQP_SASL_MORE);
    assert_int_equal(consumed, 0);
    memcpy(in, eh_init, sizeof(eh_init));
    memcpy(in + sizeof(eh_init), amqp_header, 8);
    assert_int_equal(
        amqp_sasl_feed(&s, in, sizeof(eh_init) + 8, &consumed, out, &outlen, check, &seen),
        AMQP_SASL_DONE);
    assert_int_equal(consumed, sizeof(eh_init)); /* the AMQP header is Proton's */
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.mechanism, "ANONYMOUS");
    assert_string_equal(seen.hostname, "localhost");
    assert_int_equal(seen.response_len, 12);
    /* sasl-outcome(code 0). */
    assert_int_equal(out[10], 0x44);
    assert_int_equal(out[outlen - 1], 0);
    assert_true(amqp_sasl_done(&s));
    assert_true(s.used);
}

/* Header, an empty SASL frame (a heartbeat) and sasl-init in one read: all handled at once
 * (this stalled the handshake when only one frame was read after the header). */
static void test_pipelined_empty_frame_then_init(void **state)
{
    (void)state;
    static const uint8_t empty_frame[8] = {0, 0, 0, 8, 2, 1, 0, 0};
    struct amqp_sasl s;
    amqp_sasl_init(&s);
    struct seen seen = {.verdict = true};
    uint8_t in[256], out[AMQP_SASL_OUT_MAX];
    size_t consumed, outlen, n = 0;
    memcpy(in + n, sasl_header, 8);
    n += 8;
    memcpy(in + n, empty_frame, 8);
    n += 8;
    memcpy(in + n, eh_init, sizeof(eh_init));
    n += sizeof(eh_init);
    assert_int_equal(amqp_sasl_feed(&s, in, n, &consumed, out, &outlen, check, &seen),
                     AMQP_SASL_DONE);
    assert_int_equal(consumed, n);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.mechanism, "ANONYMOUS");
    assert_true(amqp_sasl_done(&s));
}

static void test_no_sasl(void **state)
{
    (void)state;
    struct amqp_sasl s;
    amqp_sasl_init(&s);
    struct seen seen = {.verdict = true};
    uint8_t out[AMQP_SASL_OUT_MAX];
    size_t consumed, outlen;
    assert_int_equal(amqp_sasl_feed(&s, amqp_header, 5, &consumed, out, &outlen, check, &seen),
                     AMQP_SASL_MORE);
    assert_int_equal(amqp_sasl_feed(&s, amqp_header, 8, &consumed, out, &outlen, check, &seen),
                     AMQP_SASL_DONE);
    assert_int_equal(consumed, 0);
    assert_int_equal(outlen, 0);
    assert_false(s.used);
    assert_int_equal(seen.calls, 0);
}

static void test_refusals(void **state)
{
    (void)state;
    uint8_t out[AMQP_SASL_OUT_MAX];
    size_t consumed, outlen;
    struct seen seen = {.verdict = false};
    struct amqp_sasl s;

    /* Credentials refused: outcome code 1 (auth). */
    amqp_sasl_init(&s);
    amqp_sasl_feed(&s, sasl_header, 8, &consumed, out, &outlen, check, &seen);
    assert_int_equal(
        amqp_sasl_feed(&s, eh_init, sizeof(eh_init), &consumed, out, &outlen, check, &seen),
        AMQP_SASL_FAILED);
    assert_int_equal(out[outlen - 1], 1);
    assert_string_equal(s.why, "refused by the test");

    /* A mechanism we did not offer. */
    uint8_t ext[sizeof(eh_init)];
    memcpy(ext, eh_init, sizeof(ext));
    memcpy(ext + 22, "EXTERNALX", 9);
    amqp_sasl_init(&s);
    seen.verdict = true;
    amqp_sasl_feed(&s, sasl_header, 8, &consumed, out, &outlen, check, &seen);
    assert_int_equal(amqp_sasl_feed(&s, ext, sizeof(ext), &consumed, out, &outlen, check, &seen),
                     AMQP_SASL_FAILED);
    assert_non_null(strstr(s.why, "EXTERNALX"));

    /* Not AMQP at all: we say what we speak and close. */
    amqp_sasl_init(&s);
    assert_int_equal(amqp_sasl_feed(&s, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, &consumed, out,
                                    &outlen, check, &seen),
                     AMQP_SASL_FAILED);
    assert_int_equal(outlen, 8);
    assert_memory_equal(out, amqp_header, 8);

    /* Oversized and undersized frames; a frame that is not SASL; garbage inside. */
    static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 2, 1, 0, 0};
    static const uint8_t tiny[] = {0, 0, 0, 4, 2, 1, 0, 0};
    static const uint8_t amqp_frame[] = {0, 0, 0, 8, 2, 0, 0, 0};
    static const uint8_t garbage[] = {0, 0, 0, 12, 2, 1, 0, 0, 0xff, 0xfe, 0xfd, 0xfc};
    static const uint8_t bad_doff[] = {0, 0, 0, 12, 9, 1, 0, 0, 0, 0, 0, 0};
    const struct {
        const uint8_t *b;
        size_t n;
    } cases[] = {{huge, sizeof(huge)},
                 {tiny, sizeof(tiny)},
                 {amqp_frame, sizeof(amqp_frame)},
                 {garbage, sizeof(garbage)},
                 {bad_doff, sizeof(bad_doff)}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        amqp_sasl_init(&s);
        amqp_sasl_feed(&s, sasl_header, 8, &consumed, out, &outlen, check, &seen);
        assert_int_equal(
            amqp_sasl_feed(&s, cases[i].b, cases[i].n, &consumed, out, &outlen, check, &seen),
            AMQP_SASL_FAILED);
        assert_true(s.why[0] != '\0');
    }
}

static void test_plain_split(void **state)
{
    (void)state;
    char user[64], pass[64];
    static const uint8_t r1[] = "\0iothubowner@sas.root.myhub\0SharedAccessSignature sr=x";
    assert_int_equal(
        amqp_sasl_plain_split(r1, sizeof(r1) - 1, user, sizeof(user), pass, sizeof(pass)), 0);
    assert_string_equal(user, "iothubowner@sas.root.myhub");
    assert_string_equal(pass, "SharedAccessSignature sr=x");
    static const uint8_t r2[] = "authz\0service\0a2V5";
    assert_int_equal(
        amqp_sasl_plain_split(r2, sizeof(r2) - 1, user, sizeof(user), pass, sizeof(pass)), 0);
    assert_string_equal(user, "service");
    assert_string_equal(pass, "a2V5");
    static const uint8_t r3[] = "nouser";
    assert_int_equal(amqp_sasl_plain_split(r3, 6, user, sizeof(user), pass, sizeof(pass)), -1);
    static const uint8_t r4[] = "\0u\0p\0q";
    assert_int_equal(amqp_sasl_plain_split(r4, 6, user, sizeof(user), pass, sizeof(pass)), -1);
    static const uint8_t r5[] = "\0u";
    assert_int_equal(amqp_sasl_plain_split(r5, 2, user, sizeof(user), pass, sizeof(pass)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_hubs_anonymous),
        cmocka_unit_test(test_pipelined_empty_frame_then_init),
        cmocka_unit_test(test_no_sasl),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_plain_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
