/* The event log's pure parts: record frames (encode, seal, hostile decode), the torn-tail
 * rule over in-memory segment images, and index file decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "store/eventlog.h"
#include "store/eventlog_segment/format.h"
#include "store/eventlog_segment/index.h"
#include "store/eventlog_segment/record.h"
#include "store/eventlog_segment/scan.h"
#include "store/eventlog_segment/segment.h"
#include "store/eventlog_segment/tail.h"

#define SEED 0x5eed1234u

/* Encodes and seals msg into a malloc'ed frame. */
static uint8_t *frame_of(const struct eventlog_message *msg, uint64_t seq, int64_t ms,
                         uint32_t seed, size_t *len)
{
    assert_int_equal(record_encoded_size(msg, len), 0);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    record_encode(buf, *len, msg);
    record_seal(buf, seed, seq, ms);
    return buf;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct eventlog_prop sys[] = {{"a", 1, "1", 1}, {"", 0, "", 0}};
    struct eventlog_prop app[] = {{"key", 3, "value", 5}};
    struct eventlog_message msg = {sys, 2, app, 1, (const uint8_t *)"body", 4};
    size_t len;
    uint8_t *f = frame_of(&msg, 42, -7, SEED, &len);
    assert_int_equal(len, EL_FRAME_MIN + 3 * EL_PROP_MIN + 2 + 0 + 8 + 4);
    struct record_head h;
    const char *why;
    assert_int_equal(record_check(f, len, SEED, &h, &why), RECORD_OK);
    assert_int_equal(h.frame_len, len);
    assert_int_equal(h.seq, 42);
    assert_int_equal(h.enqueued_ms, -7);
    assert_int_equal(h.system_count, 2);
    assert_int_equal(h.app_count, 1);
    assert_int_equal(h.body_len, 4);
    struct eventlog_prop props[3];
    const uint8_t *body;
    record_parse(f, &h, props, &body);
    assert_memory_equal(props[0].key, "a", 1);
    assert_int_equal(props[1].key_len, 0);
    assert_memory_equal(props[2].value, "value", 5);
    assert_memory_equal(body, "body", 4);
    /* Another segment's seed: not a record here. */
    assert_int_equal(record_check(f, len, SEED + 1, &h, &why), RECORD_BAD_CRC);
    /* Every shorter prefix is incomplete, never read past. */
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, f, n);
        assert_int_equal(record_check(copy, n, SEED, &h, &why), RECORD_INCOMPLETE);
        free(copy);
    }
    free(f);
}

static void test_sizes(void **state)
{
    (void)state;
    size_t len;
    struct eventlog_message empty = {0};
    assert_int_equal(record_encoded_size(&empty, &len), 0);
    assert_int_equal(len, EL_FRAME_MIN);
    struct eventlog_message max = {.body = (const uint8_t *)"",
                                   .body_len = EVENTLOG_RECORD_MAX - EL_FRAME_MIN};
    assert_int_equal(record_encoded_size(&max, &len), 0);
    assert_int_equal(len, EVENTLOG_RECORD_MAX);
    max.body_len++;
    assert_int_equal(record_encoded_size(&max, &len), EVENTLOG_ERR_TOO_LARGE);
    max.body_len = SIZE_MAX;
    assert_int_equal(record_encoded_size(&max, &len), EVENTLOG_ERR_TOO_LARGE);
    struct eventlog_prop huge = {"k", SIZE_MAX - 2, "v", 10};
    struct eventlog_message m = {&huge, 1, NULL, 0, NULL, 0};
    assert_int_equal(record_encoded_size(&m, &len), EVENTLOG_ERR_TOO_LARGE);
    m.system_count = SIZE_MAX;
    assert_int_equal(record_encoded_size(&m, &len), EVENTLOG_ERR_TOO_LARGE);
    m = (struct eventlog_message){NULL, 1, NULL, 0, NULL, 0};
    assert_int_equal(record_encoded_size(&m, &len), EVENTLOG_ERR_INVALID);
    struct eventlog_prop nokey = {NULL, 3, "v", 1};
    m = (struct eventlog_message){NULL, 0, &nokey, 1, NULL, 0};
    assert_int_equal(record_encoded_size(&m, &len), EVENTLOG_ERR_INVALID);
}

/* Rewrites field bytes of a frame and reseals its CRC, so that the layout check (not the
 * CRC) must catch the lie. */
static void reseal(uint8_t *f)
{
    el_put32(f + 4, crc32c(SEED, f + EL_FRAME_HEAD, el_get32(f)));
}

static void test_hostile_layouts(void **state)
{
    (void)state;
    struct eventlog_prop app[] = {{"key", 3, "value", 5}};
    struct eventlog_message msg = {NULL, 0, app, 1, (const uint8_t *)"body", 4};
    size_t len;
    uint8_t *f = frame_of(&msg, 1, 1, SEED, &len);
    struct record_head h;
    const char *why;
    uint8_t *g = malloc(len);
    /* Counts that promise more properties than bytes. */
    static const uint32_t counts[] = {2, 1000, 0xFFFFFFFFu};
    for (size_t i = 0; i < 3; i++) {
        memcpy(g, f, len);
        el_put32(g + 28, counts[i]);
        reseal(g);
        assert_int_equal(record_check(g, len, SEED, &h, &why), RECORD_BAD_LAYOUT);
        memcpy(g, f, len);
        el_put32(g + 24, counts[i]);
        reseal(g);
        assert_int_equal(record_check(g, len, SEED, &h, &why), RECORD_BAD_LAYOUT);
    }
    /* Key or value lengths running past the frame. */
    static const uint32_t lens[] = {100, 0x7FFFFFFFu, 0xFFFFFFFFu};
    for (size_t i = 0; i < 3; i++) {
        for (int field = 0; field < 2; field++) {
            memcpy(g, f, len);
            el_put32(g + 32 + 4 * field, lens[i]);
            reseal(g);
            assert_int_equal(record_check(g, len, SEED, &h, &why), RECORD_BAD_LAYOUT);
        }
    }
    /* Body length disagreeing with the frame, both ways. */
    size_t body_len_at = len - 4 - 4;
    for (uint32_t bl = 0; bl < 10; bl++) {
        if (bl == 4)
            continue;
        memcpy(g, f, len);
        el_put32(g + body_len_at, bl);
        reseal(g);
        assert_int_equal(record_check(g, len, SEED, &h, &why), RECORD_BAD_LAYOUT);
    }
    /* Frame lengths out of bounds, whatever follows. */
    memcpy(g, f, len);
    el_put32(g, EL_PAYLOAD_MIN - 1);
    assert_int_equal(record_check(g, len, SEED, &h, &why), RECORD_BAD_LENGTH);
    el_put32(g, EVENTLOG_RECORD_MAX);
    assert_int_equal(record_check(g, len, SEED, &h, &why), RECORD_BAD_LENGTH);
    el_put32(g, 0);
    assert_int_equal(record_check(g, len, SEED, &h, &why), RECORD_BAD_LENGTH);
    /* A length that fits but is wrong: the CRC no longer matches (or the frame is cut). */
    memcpy(g, f, len);
    el_put32(g, el_get32(f) - 1);
    assert_int_equal(record_check(g, len, SEED, &h, &why), RECORD_BAD_CRC);
    el_put32(g, el_get32(f) + 1);
    assert_int_equal(record_check(g, len, SEED, &h, &why), RECORD_INCOMPLETE);
    free(g);
    free(f);
}

/* ---- the torn-tail rule over images -------------------------------------------------- */

struct image {
    uint8_t *buf;
    size_t len, cap;
    uint64_t pos[64];
    int n;
};

static void put(struct image *im, const void *p, size_t n)
{
    if (im->len + n > im->cap) {
        im->cap = (im->len + n) * 2;
        im->buf = realloc(im->buf, im->cap);
        assert_non_null(im->buf);
    }
    memcpy(im->buf + im->len, p, n);
    im->len += n;
}

static void image_init(struct image *im, int records)
{
    memset(im, 0, sizeof(*im));
    struct seg_header h = {0, 100, 5000, SEED};
    uint8_t hdr[EL_SEG_HEADER_SIZE];
    seg_header_encode(hdr, &h);
    put(im, hdr, sizeof(hdr));
    for (int i = 0; i < records; i++) {
        char body[40];
        int blen = snprintf(body, sizeof(body), "record number %d", i);
        struct eventlog_message msg = {.body = (const uint8_t *)body, .body_len = (size_t)blen};
        size_t len;
        uint8_t *f = frame_of(&msg, 100 + (uint64_t)i, 1000 + i / 2, SEED, &len);
        im->pos[im->n++] = im->len;
        put(im, f, len);
        free(f);
    }
}

static int run_tail(const struct image *im, struct tail_scan *t)
{
    struct scan_mem mem = {im->buf, im->len};
    struct scan_source src = {scan_read_mem, &mem};
    struct scan s;
    scan_init(&s, &src, im->len, SEED);
    struct idx_array idx = {0};
    memset(t, 0, sizeof(*t));
    t->pos = EL_SEG_HEADER_SIZE;
    t->seq = 100;
    t->min_ms = INT64_MIN;
    int rc = tail_scan(&s, t, &idx);
    if (rc == 0)
        assert_true(idx.n >= 1 || t->count == 0);
    idx_free(&idx);
    scan_free(&s);
    return rc;
}

static void test_tail_rule(void **state)
{
    (void)state;
    struct image im;
    image_init(&im, 10);
    struct tail_scan t;
    assert_int_equal(run_tail(&im, &t), 0);
    assert_false(t.torn);
    assert_int_equal(t.count, 10);
    assert_int_equal(t.next_seq, 110);
    assert_int_equal(t.end, im.len);
    assert_int_equal(t.last_pos, im.pos[9]);
    assert_int_equal(t.last_ms, 1004);

    /* Cut anywhere: torn at the start of the cut record. */
    size_t full = im.len;
    for (size_t cut = EL_SEG_HEADER_SIZE; cut < full; cut++) {
        im.len = cut;
        assert_int_equal(run_tail(&im, &t), 0);
        int whole = 0;
        while (whole < 10 && (whole + 1 < 10 ? im.pos[whole + 1] : full) <= cut)
            whole++;
        assert_int_equal(t.count, (uint64_t)whole);
        assert_int_equal(t.end, whole < 10 ? im.pos[whole] : full);
        assert_int_equal(t.torn, cut != im.pos[whole]);
    }
    im.len = full;

    /* A flipped byte in record 4: corrupt (records follow); in record 9: torn. */
    im.buf[im.pos[4] + 20] ^= 1;
    assert_int_equal(run_tail(&im, &t), EVENTLOG_ERR_CORRUPT);
    assert_int_equal(t.bad_pos, im.pos[4]);
    im.buf[im.pos[4] + 20] ^= 1;
    im.buf[im.pos[9] + 30] ^= 1;
    assert_int_equal(run_tail(&im, &t), 0);
    assert_true(t.torn);
    assert_int_equal(t.end, im.pos[9]);
    im.buf[im.pos[9] + 30] ^= 1;

    /* Zeros over records 7.. (pages never written): torn. */
    memset(im.buf + im.pos[7], 0, full - im.pos[7]);
    assert_int_equal(run_tail(&im, &t), 0);
    assert_true(t.torn);
    assert_int_equal(t.count, 7);
    free(im.buf);

    /* Zeros over record 7 only, records 8 and 9 intact after it: committed data follows
     * the hole, so it is damage, not a tail. */
    image_init(&im, 10);
    memset(im.buf + im.pos[7], 0, im.pos[8] - im.pos[7]);
    assert_int_equal(run_tail(&im, &t), EVENTLOG_ERR_CORRUPT);
    assert_int_equal(t.bad_pos, im.pos[7]);
    free(im.buf);
}

static void test_tail_ignores_foreign_frames(void **state)
{
    (void)state;
    /* The last record's body carries a well-formed frame with a plausible sequence number
     * (what a device could send), sealed with another seed. Torn in the middle, the record
     * must still count as a torn tail: the hidden frame is not a record of this segment. */
    struct image im;
    image_init(&im, 3);
    struct eventlog_message inner = {.body = (const uint8_t *)"evil", .body_len = 4};
    size_t ilen;
    uint8_t *hidden = frame_of(&inner, 104, 2000, SEED ^ 0xFFFF, &ilen);
    uint8_t body[200];
    memset(body, 'x', sizeof(body));
    memcpy(body + 50, hidden, ilen);
    struct eventlog_message outer = {.body = body, .body_len = sizeof(body)};
    size_t olen;
    uint8_t *f = frame_of(&outer, 103, 2000, SEED, &olen);
    put(&im, f, olen);
    im.len -= 20; /* torn */
    struct tail_scan t;
    assert_int_equal(run_tail(&im, &t), 0);
    assert_true(t.torn);
    assert_int_equal(t.count, 3);
    /* With the segment's own seed the hidden frame would count (which is why the seed is
     * random and never leaves the segment header). */
    free(hidden);
    hidden = frame_of(&inner, 104, 2000, SEED, &ilen);
    size_t body_at = im.len + 20 - olen + (olen - sizeof(body));
    memcpy(im.buf + body_at + 50, hidden, ilen);
    assert_int_equal(run_tail(&im, &t), EVENTLOG_ERR_CORRUPT);
    free(hidden);
    free(f);
    free(im.buf);
}

static void test_tail_order_checks(void **state)
{
    (void)state;
    /* A valid frame with the wrong sequence number or an earlier time is damage. */
    struct image im;
    image_init(&im, 2);
    struct eventlog_message m = {.body = (const uint8_t *)"x", .body_len = 1};
    size_t len;
    uint8_t *f = frame_of(&m, 105, 5000, SEED, &len); /* seq should be 102 */
    put(&im, f, len);
    struct tail_scan t;
    assert_int_equal(run_tail(&im, &t), EVENTLOG_ERR_CORRUPT);
    assert_int_equal(t.bad_pos, im.pos[1] + (im.len - len - im.pos[1]));
    free(f);
    im.len -= len;
    f = frame_of(&m, 102, 999, SEED, &len); /* time goes back */
    put(&im, f, len);
    assert_int_equal(run_tail(&im, &t), EVENTLOG_ERR_CORRUPT);
    free(f);
    free(im.buf);
}

/* ---- index decoding ------------------------------------------------------------------------ */

static size_t encode_index(uint8_t *buf, uint64_t first, const struct idx_entry *e, size_t n)
{
    idx_encode_header(buf, 3, first);
    for (size_t i = 0; i < n; i++)
        idx_encode_entry(buf + EL_IDX_HEADER_SIZE + i * EL_IDX_ENTRY_SIZE, &e[i]);
    return EL_IDX_HEADER_SIZE + n * EL_IDX_ENTRY_SIZE;
}

static void test_index_decode(void **state)
{
    (void)state;
    uint8_t buf[EL_IDX_HEADER_SIZE + 8 * EL_IDX_ENTRY_SIZE];
    struct idx_entry good[] = {
        {50, EL_SEG_HEADER_SIZE, 10, 0},
        {60, 20000, 12, 0},
        {70, 40000, 12, EL_IDX_FLAG_LAST},
    };
    size_t len = encode_index(buf, 50, good, 3);
    struct idx_array a = {0};
    bool complete;
    const char *why;
    assert_int_equal(idx_decode(buf, len, 3, 50, 50000, &a, &complete, &why), 0);
    assert_true(complete);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.v[2].flags, EL_IDX_FLAG_LAST);
    /* Wrong partition or segment: refused whole. */
    assert_int_equal(idx_decode(buf, len, 4, 50, 50000, &a, &complete, &why), -1);
    assert_int_equal(idx_decode(buf, len, 3, 51, 50000, &a, &complete, &why), -1);
    /* Entries past the segment's end are dropped, and what follows them. */
    assert_int_equal(idx_decode(buf, len, 3, 50, 30000, &a, &complete, &why), 0);
    assert_false(complete);
    assert_int_equal(a.n, 2);
    /* A torn last entry. */
    assert_int_equal(idx_decode(buf, len - 5, 3, 50, 50000, &a, &complete, &why), 0);
    assert_false(complete);
    assert_int_equal(a.n, 2);
    /* Out of order, too many records for the bytes, a first entry elsewhere, a trailer in
     * the middle, unknown flags. */
    struct idx_entry bad[][2] = {
        {{50, EL_SEG_HEADER_SIZE, 10, 0}, {50, 20000, 12, 0}},
        {{50, EL_SEG_HEADER_SIZE, 10, 0}, {60, 30, 12, 0}},
        {{50, EL_SEG_HEADER_SIZE, 10, 0}, {60, 20000, 9, 0}},
        {{50, EL_SEG_HEADER_SIZE, 10, 0}, {5000, 20000, 12, 0}},
        {{51, EL_SEG_HEADER_SIZE, 10, 0}, {60, 20000, 12, 0}},
        {{50, EL_SEG_HEADER_SIZE, 10, EL_IDX_FLAG_LAST}, {60, 20000, 12, 0}},
        {{50, EL_SEG_HEADER_SIZE, 10, 0}, {60, 20000, 12, 4}},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        len = encode_index(buf, 50, bad[i], 2);
        assert_int_equal(idx_decode(buf, len, 3, 50, 50000, &a, &complete, &why), 0);
        assert_false(complete);
        assert_true(a.n < 2);
    }
    /* A bit flipped anywhere in an entry: that entry fails its CRC. */
    len = encode_index(buf, 50, good, 3);
    for (size_t bit = 0; bit < EL_IDX_ENTRY_SIZE * 8; bit++) {
        uint8_t *e = buf + EL_IDX_HEADER_SIZE + EL_IDX_ENTRY_SIZE;
        e[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(idx_decode(buf, len, 3, 50, 50000, &a, &complete, &why), 0);
        assert_int_equal(a.n, 1);
        e[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    idx_free(&a);
}

static void test_segment_header(void **state)
{
    (void)state;
    struct seg_header h = {7, 123456789, 987654321, 0xABCDEF01u}, out;
    uint8_t buf[EL_SEG_HEADER_SIZE];
    seg_header_encode(buf, &h);
    const char *why;
    assert_int_equal(seg_header_decode(buf, sizeof(buf), &out, &why), 0);
    assert_int_equal(out.partition, 7);
    assert_int_equal(out.first_seq, 123456789);
    assert_int_equal(out.base_offset, 987654321);
    assert_int_equal(out.seed, 0xABCDEF01u);
    assert_int_equal(seg_header_decode(buf, sizeof(buf) - 1, &out, &why), -1);
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] ^= 0x80;
        assert_int_equal(seg_header_decode(buf, sizeof(buf), &out, &why), -1);
        buf[i] ^= 0x80;
    }
    char path[128];
    assert_int_equal(seg_path(path, sizeof(path), "/d", 42, ".log"), 0);
    assert_string_equal(path, "/d/00000000000000000042.log");
    assert_int_equal(seg_path(path, 10, "/d", 42, ".log"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_hostile_layouts),
        cmocka_unit_test(test_tail_rule),
        cmocka_unit_test(test_tail_ignores_foreign_frames),
        cmocka_unit_test(test_tail_order_checks),
        cmocka_unit_test(test_index_decode),
        cmocka_unit_test(test_segment_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
