/* libFuzzer target: IoT Hub property bags (propbag_parse, propbag_encode).
 *
 * Besides "no crash, no sanitizer report" it checks that
 *  - the result agrees with a simple model: -1 exactly when there are more non-empty pairs
 *    than allowed, a pair with an empty key, or a NUL byte; otherwise one entry per
 *    non-empty pair;
 *  - len + 2 * entries bytes of scratch are enough, as propbag.h promises;
 *  - every entry has a non-empty key and both strings lie inside the scratch buffer;
 *  - encoding the entries and parsing the result gives the same entries back. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/propbag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BAG     4096
#define MAX_ENTRIES 16

static void check(int ok)
{
    if (!ok)
        abort();
}

/* -1 or the number of non-empty pairs, following the contract rather than the code. */
static int model(const char *bag, size_t len, size_t max)
{
    if (memchr(bag, '\0', len))
        return -1;
    size_t count = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && bag[i] != '&')
            continue;
        if (i > start) {
            if (bag[start] == '=' || ++count > max)
                return -1;
        }
        start = i + 1;
    }
    return (int)count;
}

static bool inside(const char *p, const char *buf, size_t cap)
{
    return p >= buf && p < buf + cap && memchr(p, '\0', (size_t)(buf + cap - p)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_BAG)
        return 0;
    /* First byte: how many entries to allow (0..16); the rest is the bag. */
    size_t max = data[0] % (MAX_ENTRIES + 1);
    const char *bag = (const char *)data + 1;
    size_t len = size - 1;

    static struct propbag_entry e[MAX_ENTRIES], again[MAX_ENTRIES];
    static char scratch[MAX_BAG + 2 * MAX_ENTRIES], scratch2[3 * (MAX_BAG + 2 * MAX_ENTRIES)];
    /* Exactly the promised bound, in a heap block of that size so ASan sees overruns. */
    size_t cap = len + 2 * max;
    char *tight = malloc(cap ? cap : 1);
    check(tight != NULL);
    int n = propbag_parse(bag, len, e, max, tight, cap);
    check(n == model(bag, len, max));
    if (n < 0) {
        free(tight);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        check(inside(e[i].key, tight, cap) && inside(e[i].value, tight, cap));
        check(e[i].key[0] != '\0');
    }
    /* Same answer with plenty of scratch. */
    check(propbag_parse(bag, len, e, max, scratch, sizeof(scratch)) == n);
    free(tight);
    /* One entry fewer allowed: refused. */
    if (n > 0)
        check(propbag_parse(bag, len, again, (size_t)n - 1, scratch2, sizeof(scratch2)) == -1);

    /* Encode and parse back. Each byte encodes to at most 3. */
    static char enc[3 * (MAX_BAG + 2 * MAX_ENTRIES)];
    int m = propbag_encode(e, (size_t)n, enc, sizeof(enc));
    check(m >= 0 && (size_t)m == strlen(enc));
    check(propbag_parse(enc, (size_t)m, again, MAX_ENTRIES, scratch2, sizeof(scratch2)) == n);
    for (int i = 0; i < n; i++) {
        check(strcmp(e[i].key, again[i].key) == 0);
        check(strcmp(e[i].value, again[i].value) == 0);
    }
    /* Too small an output: -1. */
    check(propbag_encode(e, (size_t)n, enc, (size_t)m) == -1);
    return 0;
}
