#include "hub/amqp/sasl.h"

#include <proton/codec.h>
#include <stdio.h>
#include <string.h>

#include "common/strbuf.h"

enum { ST_HEADER = 0, ST_INIT = 1, ST_DONE = 2, ST_FAILED = 3 };

#define SASL_MECHANISMS 0x40
#define SASL_INIT       0x41
#define SASL_OUTCOME    0x44
#define FRAME_TYPE_SASL 1

static const uint8_t header_amqp[8] = {'A', 'M', 'Q', 'P', 0, 1, 0, 0};
static const uint8_t header_sasl[8] = {'A', 'M', 'Q', 'P', 3, 1, 0, 0};

/* Offered in this order; EXTERNAL needs X.509 client certificates (not served yet). */
static const char *const mechanisms[] = {"MSSBCBS", "ANONYMOUS", "PLAIN"};

void amqp_sasl_init(struct amqp_sasl *s)
{
    memset(s, 0, sizeof(*s));
}

bool amqp_sasl_done(const struct amqp_sasl *s)
{
    return s->state == ST_DONE;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Encodes body as one SASL frame at out. Returns its size, or 0 when it does not fit. */
static size_t encode_frame(pn_data_t *body, uint8_t *out, size_t cap)
{
    if (cap < 8)
        return 0;
    ssize_t n = pn_data_encode(body, (char *)out + 8, cap - 8);
    if (n < 0)
        return 0;
    put_u32(out, (uint32_t)(n + 8));
    out[4] = 2; /* data offset in 4-byte words */
    out[5] = FRAME_TYPE_SASL;
    out[6] = out[7] = 0;
    return (size_t)n + 8;
}

static size_t encode_mechanisms(uint8_t *out, size_t cap)
{
    pn_data_t *d = pn_data(8);
    if (!d)
        return 0;
    pn_data_put_described(d);
    pn_data_enter(d);
    pn_data_put_ulong(d, SASL_MECHANISMS);
    pn_data_put_list(d);
    pn_data_enter(d);
    pn_data_put_array(d, false, PN_SYMBOL);
    pn_data_enter(d);
    for (size_t i = 0; i < sizeof(mechanisms) / sizeof(mechanisms[0]); i++)
        pn_data_put_symbol(d, pn_bytes(strlen(mechanisms[i]), mechanisms[i]));
    pn_data_exit(d);
    pn_data_exit(d);
    pn_data_exit(d);
    size_t n = encode_frame(d, out, cap);
    pn_data_free(d);
    return n;
}

/* code: 0 ok, 1 auth (credentials refused), 2 sys (our failure). */
static size_t encode_outcome(uint8_t code, uint8_t *out, size_t cap)
{
    pn_data_t *d = pn_data(4);
    if (!d)
        return 0;
    pn_data_put_described(d);
    pn_data_enter(d);
    pn_data_put_ulong(d, SASL_OUTCOME);
    pn_data_put_list(d);
    pn_data_enter(d);
    pn_data_put_ubyte(d, code);
    pn_data_exit(d);
    pn_data_exit(d);
    size_t n = encode_frame(d, out, cap);
    pn_data_free(d);
    return n;
}

static void copy_bytes(char *dst, size_t cap, pn_bytes_t b)
{
    size_t n = b.size < cap ? b.size : cap - 1;
    memcpy(dst, b.start, n);
    dst[n] = '\0';
}

/* Decodes a sasl-init performative. Returns 0 or -1 (why set). The response points into d. */
static int decode_init(pn_data_t *d, const uint8_t *body, size_t len, struct amqp_sasl_init *init,
                       char *why, size_t whycap)
{
    memset(init, 0, sizeof(*init));
    if (pn_data_decode(d, (const char *)body, len) < 0) {
        snprintf(why, whycap, "malformed SASL frame (not valid AMQP encoding)");
        return -1;
    }
    pn_data_rewind(d);
    if (!pn_data_next(d) || pn_data_type(d) != PN_DESCRIBED) {
        snprintf(why, whycap, "malformed SASL frame (no described performative)");
        return -1;
    }
    pn_data_enter(d);
    bool is_init = false;
    if (pn_data_next(d)) {
        if (pn_data_type(d) == PN_ULONG)
            is_init = pn_data_get_ulong(d) == SASL_INIT;
        else if (pn_data_type(d) == PN_SYMBOL) {
            pn_bytes_t s = pn_data_get_symbol(d);
            is_init = s.size == 19 && memcmp(s.start, "amqp:sasl-init:list", 19) == 0;
        }
    }
    if (!is_init) {
        snprintf(why, whycap, "expected sasl-init after sasl-mechanisms");
        return -1;
    }
    if (!pn_data_next(d) || pn_data_type(d) != PN_LIST) {
        snprintf(why, whycap, "malformed sasl-init (its fields are not a list)");
        return -1;
    }
    pn_data_enter(d);
    if (!pn_data_next(d) || pn_data_type(d) != PN_SYMBOL) {
        snprintf(why, whycap, "sasl-init names no mechanism");
        return -1;
    }
    copy_bytes(init->mechanism, sizeof(init->mechanism), pn_data_get_symbol(d));
    if (pn_data_next(d) && pn_data_type(d) == PN_BINARY) {
        pn_bytes_t r = pn_data_get_binary(d);
        init->response = (const uint8_t *)r.start;
        init->response_len = r.size;
    }
    if (pn_data_next(d) && pn_data_type(d) == PN_STRING)
        copy_bytes(init->hostname, sizeof(init->hostname), pn_data_get_string(d));
    return 0;
}

static bool offered(const char *mech)
{
    for (size_t i = 0; i < sizeof(mechanisms) / sizeof(mechanisms[0]); i++)
        if (strcmp(mech, mechanisms[i]) == 0)
            return true;
    return false;
}

static enum amqp_sasl_result fail(struct amqp_sasl *s, uint8_t code, uint8_t *out, size_t *outlen)
{
    s->state = ST_FAILED;
    if (code)
        *outlen += encode_outcome(code, out + *outlen, AMQP_SASL_OUT_MAX - *outlen);
    return AMQP_SASL_FAILED;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static enum amqp_sasl_result handle_init(struct amqp_sasl *s, const uint8_t *in, size_t len,
                                         size_t *consumed, uint8_t *out, size_t *outlen,
                                         amqp_sasl_check_fn check, void *ctx)
{
    if (len < 8)
        return AMQP_SASL_MORE;
    uint32_t size = get_u32(in);
    if (size < 8 || size > AMQP_SASL_FRAME_MAX) {
        snprintf(s->why, sizeof(s->why), "SASL frame of %u bytes (8 to %d accepted)", size,
                 AMQP_SASL_FRAME_MAX);
        return fail(s, 2, out, outlen);
    }
    if (len < size)
        return AMQP_SASL_MORE;
    size_t doff = (size_t)in[4] * 4;
    if (doff < 8 || doff > size || in[5] != FRAME_TYPE_SASL) {
        snprintf(s->why, sizeof(s->why), "malformed SASL frame header");
        return fail(s, 2, out, outlen);
    }
    *consumed += size;
    if (doff == size)
        return AMQP_SASL_MORE; /* an empty frame: keep waiting for sasl-init */
    pn_data_t *d = pn_data(16);
    if (!d) {
        snprintf(s->why, sizeof(s->why), "out of memory decoding sasl-init");
        return fail(s, 2, out, outlen);
    }
    struct amqp_sasl_init init;
    enum amqp_sasl_result rc;
    if (decode_init(d, in + doff, size - doff, &init, s->why, sizeof(s->why)) != 0) {
        rc = fail(s, 2, out, outlen);
    } else {
        str_copy(s->mechanism, sizeof(s->mechanism), init.mechanism);
        if (!offered(init.mechanism)) {
            snprintf(s->why, sizeof(s->why), "SASL mechanism '%s' was not offered (offered: %s)",
                     init.mechanism, "MSSBCBS ANONYMOUS PLAIN");
            rc = fail(s, 1, out, outlen);
        } else if (!check(ctx, &init, s->why, sizeof(s->why))) {
            rc = fail(s, 1, out, outlen);
        } else {
            *outlen += encode_outcome(0, out + *outlen, AMQP_SASL_OUT_MAX - *outlen);
            s->state = ST_DONE;
            rc = AMQP_SASL_DONE;
        }
    }
    pn_data_free(d);
    return rc;
}

/* Handles every whole frame from in + *consumed on: empty frames (heartbeats) until the
 * sasl-init, which ends the exchange. */
static enum amqp_sasl_result feed_frames(struct amqp_sasl *s, const uint8_t *in, size_t len,
                                         size_t *consumed, uint8_t *out, size_t *outlen,
                                         amqp_sasl_check_fn check, void *ctx)
{
    enum amqp_sasl_result rc;
    do {
        size_t before = *consumed;
        rc = handle_init(s, in + *consumed, len - *consumed, consumed, out, outlen, check, ctx);
        if (*consumed == before)
            break;
    } while (rc == AMQP_SASL_MORE && s->state == ST_INIT);
    return rc;
}

enum amqp_sasl_result amqp_sasl_feed(struct amqp_sasl *s, const uint8_t *in, size_t len,
                                     size_t *consumed, uint8_t *out, size_t *outlen,
                                     amqp_sasl_check_fn check, void *ctx)
{
    *consumed = 0;
    *outlen = 0;
    switch (s->state) {
    case ST_HEADER: {
        size_t n = len < 8 ? len : 8;
        if (memcmp(in, header_amqp, n) != 0 && memcmp(in, header_sasl, n) != 0) {
            /* Not AMQP 1.0 (another protocol, or TLS on the plain port): say what we speak. */
            snprintf(s->why, sizeof(s->why), "the client did not send an AMQP 1.0 header");
            memcpy(out, header_amqp, 8);
            *outlen = 8;
            s->state = ST_FAILED;
            return AMQP_SASL_FAILED;
        }
        if (len < 8)
            return AMQP_SASL_MORE;
        if (memcmp(in, header_amqp, 8) == 0) {
            s->state = ST_DONE; /* no SASL layer: Proton takes the header */
            return AMQP_SASL_DONE;
        }
        s->used = true;
        memcpy(out, header_sasl, 8);
        *outlen = 8 + encode_mechanisms(out + 8, AMQP_SASL_OUT_MAX - 8);
        *consumed = 8;
        s->state = ST_INIT;
        return feed_frames(s, in, len, consumed, out, outlen, check, ctx);
    }
    case ST_INIT:
        return feed_frames(s, in, len, consumed, out, outlen, check, ctx);
    case ST_DONE:
        return AMQP_SASL_DONE;
    default:
        return AMQP_SASL_FAILED;
    }
}

int amqp_sasl_plain_split(const uint8_t *resp, size_t len, char *user, size_t user_cap, char *pass,
                          size_t pass_cap)
{
    const uint8_t *nul1 = memchr(resp, 0, len);
    if (!nul1)
        return -1;
    const uint8_t *authcid = nul1 + 1;
    size_t rest = len - (size_t)(authcid - resp);
    const uint8_t *nul2 = memchr(authcid, 0, rest);
    if (!nul2)
        return -1;
    size_t ulen = (size_t)(nul2 - authcid), plen = rest - ulen - 1;
    if (memchr(nul2 + 1, 0, plen))
        return -1;
    if (!str_copy_n(user, user_cap, (const char *)authcid, ulen) ||
        !str_copy_n(pass, pass_cap, (const char *)nul2 + 1, plen))
        return -1;
    return 0;
}
