/* libFuzzer target: the event log's segment image decoding, as recovery and readers see it.
 *
 * The input is a segment file's content. Its header is decoded (giving the CRC seed; seed
 * 0 when the header is bad, so record decoding still runs), then the recovery scan runs
 * over the image as a last segment (torn tail allowed) and as a sealed one (strict), and
 * every record of the good prefix is parsed as a reader would. Besides "no crash, no
 * sanitizer report" it checks that the scan's answers are consistent: the good prefix it
 * reports rescans strictly to the same records, sequence numbers and times.
 *
 * Random bytes rarely pass a CRC32C, so each input also runs a second time with every
 * frame along its chain of length fields given a correct CRC: that reaches the layout,
 * sequence and time checks behind the CRC. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "store/eventlog_segment/format.h"
#include "store/eventlog_segment/index.h"
#include "store/eventlog_segment/record.h"
#include "store/eventlog_segment/scan.h"
#include "store/eventlog_segment/segment.h"
#include "store/eventlog_segment/tail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Parses every record of image[HDR, end), touching every property and body byte. */
static uint64_t parse_all(struct scan *s, uint64_t end, uint64_t first_seq)
{
    static struct eventlog_prop props[EVENTLOG_RECORD_MAX / EL_PROP_MIN];
    uint64_t pos = EL_SEG_HEADER_SIZE, n = 0, sum = 0;
    while (pos < end) {
        struct record_head h;
        const uint8_t *frame;
        const char *why;
        check(scan_record(s, pos, &h, &frame, &why) == RECORD_OK);
        check(h.seq == first_seq + n);
        check((size_t)h.system_count + h.app_count <= sizeof(props) / sizeof(props[0]));
        const uint8_t *body;
        record_parse(frame, &h, props, &body);
        for (size_t i = 0; i < (size_t)h.system_count + h.app_count; i++) {
            check(props[i].key >= (const char *)frame &&
                  props[i].value + props[i].value_len <= (const char *)frame + h.frame_len);
            for (size_t k = 0; k < props[i].key_len; k++)
                sum += (uint8_t)props[i].key[k];
            for (size_t k = 0; k < props[i].value_len; k++)
                sum += (uint8_t)props[i].value[k];
        }
        check(body + h.body_len == frame + h.frame_len);
        for (size_t k = 0; k < h.body_len; k++)
            sum += body[k];
        pos += h.frame_len;
        n++;
    }
    check(pos == end);
    (void)sum;
    return n;
}

/* A copy of the image with the CRC of every frame along the length chain made right. */
static uint8_t *reseal_copy(const uint8_t *data, size_t size, uint32_t seed)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return NULL;
    memcpy(copy, data, size);
    size_t pos = EL_SEG_HEADER_SIZE;
    while (pos <= size && size - pos >= EL_FRAME_HEAD) {
        uint32_t len = el_get32(copy + pos);
        if (len < EL_PAYLOAD_MIN || len > size - pos - EL_FRAME_HEAD)
            break;
        el_put32(copy + pos + 4, crc32c(seed, copy + pos + EL_FRAME_HEAD, len));
        pos += EL_FRAME_HEAD + len;
    }
    return copy;
}

static void run_image(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_image(data, size);
    struct seg_header h;
    const char *why;
    if (size > EL_SEG_HEADER_SIZE && seg_header_decode(data, size, &h, &why) == 0) {
        uint8_t *copy = reseal_copy(data, size, h.seed);
        if (copy) {
            run_image(copy, size);
            free(copy);
        }
    }
    return 0;
}

static void run_image(const uint8_t *data, size_t size)
{
    struct seg_header h = {0, 0, 0, 0};
    const char *why;
    if (seg_header_decode(data, size, &h, &why) != 0)
        h = (struct seg_header){0, 0, 0, 0};

    /* The raw decoder on the bytes as they come. */
    struct record_head head;
    record_check(data, size, h.seed, &head, &why);
    if (size < EL_SEG_HEADER_SIZE)
        return;

    struct scan_mem mem = {data, size};
    struct scan_source src = {scan_read_mem, &mem};
    struct scan s;
    scan_init(&s, &src, size, h.seed);
    struct idx_array idx = {0};
    struct tail_scan t = {.pos = EL_SEG_HEADER_SIZE, .seq = h.first_seq, .min_ms = INT64_MIN};
    int rc = tail_scan(&s, &t, &idx);
    check(rc == 0 || rc == EVENTLOG_ERR_CORRUPT || rc == EVENTLOG_ERR_NOMEM);
    if (rc == 0) {
        check(t.end >= EL_SEG_HEADER_SIZE && t.end <= size);
        check(t.torn == (t.end != size));
        check(t.next_seq - h.first_seq == t.count);
        check(t.count == 0 || idx.n >= 1);
        for (size_t i = 0; i < idx.n; i++)
            check(idx.v[i].pos < t.end && idx.v[i].seq < t.next_seq);
        /* The good prefix, alone, is a clean sealed segment with the same records. */
        scan_set_size(&s, t.end);
        struct idx_array idx2 = {0};
        struct tail_scan u = {
            .pos = EL_SEG_HEADER_SIZE, .seq = h.first_seq, .min_ms = INT64_MIN, .strict = true};
        check(tail_scan(&s, &u, &idx2) == 0);
        check(u.count == t.count && u.end == t.end && u.last_ms == t.last_ms);
        check(idx2.n == idx.n);
        idx_free(&idx2);
        check(parse_all(&s, t.end, h.first_seq) == t.count);
        scan_set_size(&s, size);
    } else if (rc == EVENTLOG_ERR_CORRUPT) {
        check(t.bad_pos >= EL_SEG_HEADER_SIZE && t.bad_pos < size && t.why != NULL);
    }
    /* Strict: a clean answer only when the whole image is records. */
    idx.n = 0;
    struct tail_scan v = {
        .pos = EL_SEG_HEADER_SIZE, .seq = h.first_seq, .min_ms = INT64_MIN, .strict = true};
    int strict_rc = tail_scan(&s, &v, &idx);
    if (strict_rc == 0)
        check(rc == 0 && !t.torn && v.end == size && v.count == t.count);
    idx_free(&idx);
    scan_free(&s);
}
