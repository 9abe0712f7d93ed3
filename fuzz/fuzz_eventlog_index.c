/* libFuzzer target: the event log's index files ({first_seq}.idx), as open and seeks read
 * them. The first 8 input bytes choose the segment size the entries are checked against;
 * the rest is the file. Checks that every accepted entry obeys the rules idx_decode
 * promises (index.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/eventlog_segment/format.h"
#include "store/eventlog_segment/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t seg_size = el_get64(data) % (EL_SEGMENT_MAX + 1);
    data += 8;
    size -= 8;
    /* Accept the partition and first seq the header names, so entries get checked. */
    uint32_t partition = size >= 16 ? el_get32(data + 12) : 0;
    uint64_t first = size >= 24 ? el_get64(data + 16) : 0;
    struct idx_array a = {0};
    bool complete = false;
    const char *why = NULL;
    int rc = idx_decode(data, size, partition, first, seg_size, &a, &complete, &why);
    check(rc == 0 || rc == -1);
    if (rc == 0) {
        check(EL_IDX_HEADER_SIZE + a.n * EL_IDX_ENTRY_SIZE <= size);
        check(!complete || EL_IDX_HEADER_SIZE + a.n * EL_IDX_ENTRY_SIZE == size);
        for (size_t i = 0; i < a.n; i++) {
            const struct idx_entry *e = &a.v[i];
            check(e->pos + EL_FRAME_MIN <= seg_size);
            check((e->flags & ~EL_IDX_FLAG_LAST) == 0);
            check(!(e->flags & EL_IDX_FLAG_LAST) || i + 1 == a.n);
            if (i == 0) {
                check(e->seq == first && e->pos == EL_SEG_HEADER_SIZE);
            } else {
                check(e->seq > a.v[i - 1].seq && e->pos > a.v[i - 1].pos);
                check(e->ms >= a.v[i - 1].ms);
            }
        }
    } else {
        check(why != NULL && a.n == 0);
    }
    idx_free(&a);
    return 0;
}
