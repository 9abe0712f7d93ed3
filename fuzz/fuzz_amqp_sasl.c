/* libFuzzer target: the hub's own SASL layer of the AMQP endpoint (amqp_sasl_feed, spec 5.1),
 * which reads the frames a client sends after the SASL protocol header: the frame header
 * (size, data offset, type) and the sasl-init performative decoded with Proton's codec
 * (mechanism, initial-response, hostname), then amqp_sasl_plain_split on a PLAIN response.
 *
 * The input is what the client sends after "AMQP\x03\x01\x00\x00". It is fed twice, the way
 * src/hub/amqp/conn.c feeds a connection's bytes (unconsumed bytes stay buffered, one feed
 * call per read):
 *  1. the header and the whole input in one read, as a pipelining client does;
 *  2. the header alone, then the input arriving a few bytes per read (the chunk sizes are
 *     derived from the input, so both paths stay deterministic).
 * Besides "no crash, no sanitizer report" it checks that
 *  - consumed never exceeds what was given and the output never exceeds AMQP_SASL_OUT_MAX;
 *  - a refusal always comes with a reason, and DONE means amqp_sasl_done();
 *  - after DONE or FAILED the reader consumes and sends nothing more and keeps its verdict;
 *  - the check callback sees a NUL-terminated mechanism and hostname, and a response whose
 *    every byte can be read (ASan checks the reads);
 *  - both ways of feeding reach the same verdict, the same number of consumed bytes and the
 *    same number of callback calls (at most one). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/amqp/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t sasl_header[8] = {'A', 'M', 'Q', 'P', 3, 1, 0, 0};

static void check(int ok)
{
    if (!ok)
        abort();
}

struct ctx {
    int calls;
    char mechanism[32];
};

/* The contract of amqp_sasl_check_fn: a refusal writes its reason. */
static bool refuse(char *why, size_t cap, const char *reason)
{
    strncpy(why, reason, cap - 1);
    why[cap - 1] = '\0';
    return false;
}

static bool on_init(void *arg, const struct amqp_sasl_init *init, char *why, size_t cap)
{
    struct ctx *c = arg;
    c->calls++;
    check(memchr(init->mechanism, 0, sizeof(init->mechanism)) != NULL);
    check(memchr(init->hostname, 0, sizeof(init->hostname)) != NULL);
    memcpy(c->mechanism, init->mechanism, sizeof(c->mechanism));
    unsigned sum = 0;
    if (init->response) {
        for (size_t i = 0; i < init->response_len; i++)
            sum += init->response[i];
    } else {
        check(init->response_len == 0);
    }
    if (strcmp(init->mechanism, "PLAIN") == 0) {
        if (!init->response)
            return refuse(why, cap, "PLAIN without a response");
        char user[256], pass[4200];
        if (amqp_sasl_plain_split(init->response, init->response_len, user, sizeof(user), pass,
                                  sizeof(pass)) != 0)
            return refuse(why, cap, "malformed PLAIN response");
        check(strlen(user) < sizeof(user) && strlen(pass) < sizeof(pass));
    }
    /* Refuse some so both outcome codes are exercised; the choice depends on the input. */
    if (sum & 1)
        return refuse(why, cap, "refused by the fuzzer");
    return true;
}

struct run {
    enum amqp_sasl_result rc;
    size_t consumed; /* of the input after the header */
    int calls;
};

/* One read event: feeds buf[0..len) and checks the call's contract. */
static enum amqp_sasl_result feed(struct amqp_sasl *s, struct ctx *c, const uint8_t *buf,
                                  size_t len, size_t *consumed)
{
    uint8_t out[AMQP_SASL_OUT_MAX];
    size_t outlen = 12345;
    enum amqp_sasl_result rc = amqp_sasl_feed(s, buf, len, consumed, out, &outlen, on_init, c);
    check(rc == AMQP_SASL_MORE || rc == AMQP_SASL_DONE || rc == AMQP_SASL_FAILED);
    check(*consumed <= len);
    check(outlen <= AMQP_SASL_OUT_MAX);
    if (rc == AMQP_SASL_FAILED)
        check(s->why[0] != '\0' && !amqp_sasl_done(s));
    if (rc == AMQP_SASL_DONE)
        check(amqp_sasl_done(s));
    if (rc == AMQP_SASL_MORE)
        check(!amqp_sasl_done(s));
    return rc;
}

/* After DONE or FAILED: more bytes change nothing. */
static void check_over(struct amqp_sasl *s, struct ctx *c, enum amqp_sasl_result rc)
{
    if (rc == AMQP_SASL_MORE)
        return;
    static const uint8_t more[8] = {0, 0, 0, 8, 2, 1, 0, 0};
    uint8_t out[AMQP_SASL_OUT_MAX];
    size_t consumed = 1, outlen = 1;
    int calls = c->calls;
    check(amqp_sasl_feed(s, more, sizeof(more), &consumed, out, &outlen, on_init, c) == rc);
    check(consumed == 0 && outlen == 0 && c->calls == calls);
}

static struct run run_whole(const uint8_t *data, size_t size)
{
    struct amqp_sasl s;
    amqp_sasl_init(&s);
    struct ctx c = {0};
    uint8_t *buf = malloc(size + 8);
    check(buf != NULL);
    memcpy(buf, sasl_header, 8);
    if (size)
        memcpy(buf + 8, data, size);
    size_t consumed = 0;
    enum amqp_sasl_result rc = feed(&s, &c, buf, size + 8, &consumed);
    check(consumed >= 8 || rc == AMQP_SASL_FAILED);
    free(buf);
    struct run r = {rc, consumed >= 8 ? consumed - 8 : 0, c.calls};
    /* The caller keeps unconsumed bytes and feeds them again on its next read: one more
     * call with what is left (no new bytes) must not change anything. */
    if (rc == AMQP_SASL_MORE) {
        size_t left = size - r.consumed;
        uint8_t *rest = malloc(left ? left : 1);
        check(rest != NULL);
        memcpy(rest, data + r.consumed, left);
        size_t more = 0;
        r.rc = feed(&s, &c, rest, left, &more);
        r.consumed += more;
        r.calls = c.calls;
        free(rest);
    }
    check_over(&s, &c, r.rc);
    return r;
}

static struct run run_chunked(const uint8_t *data, size_t size)
{
    struct amqp_sasl s;
    amqp_sasl_init(&s);
    struct ctx c = {0};
    size_t consumed = 0;
    enum amqp_sasl_result rc = feed(&s, &c, sasl_header, 8, &consumed);
    check(rc == AMQP_SASL_MORE && consumed == 8);

    /* pending = data[start..end): received and not yet consumed. Every read event is fed
     * from a fresh allocation so ASan sees reads past what arrived. */
    size_t start = 0, end = 0, k = 0;
    struct run r = {AMQP_SASL_MORE, 0, 0};
    while (end < size && r.rc == AMQP_SASL_MORE) {
        size_t step = 1 + (data[k++ % size] % 7);
        end = end + step < size ? end + step : size;
        size_t len = end - start;
        uint8_t *buf = malloc(len ? len : 1);
        check(buf != NULL);
        memcpy(buf, data + start, len);
        r.rc = feed(&s, &c, buf, len, &consumed);
        free(buf);
        start += consumed;
    }
    if (r.rc == AMQP_SASL_MORE && start < size) {
        /* As in run_whole: the leftover fed once more. */
        size_t len = size - start;
        uint8_t *buf = malloc(len);
        check(buf != NULL);
        memcpy(buf, data + start, len);
        r.rc = feed(&s, &c, buf, len, &consumed);
        free(buf);
        start += consumed;
    }
    r.consumed = start;
    r.calls = c.calls;
    check_over(&s, &c, r.rc);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 3 * AMQP_SASL_FRAME_MAX)
        return 0;
    struct run whole = run_whole(data, size);
    struct run chunked = run_chunked(data, size);
    check(whole.calls <= 1 && chunked.calls <= 1);
    check(whole.rc == chunked.rc);
    check(whole.consumed == chunked.consumed);
    check(whole.calls == chunked.calls);
    return 0;
}
