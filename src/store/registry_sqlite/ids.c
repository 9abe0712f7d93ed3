/* Identifiers the hub issues like the hosted service does: generationId is an 18-digit
 * .NET tick count (100 ns since 0001-01-01), etag the base64 of a per-device decimal
 * version counter ("MQ==" = "1"). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/base64.h"
#include "common/isotime.h"
#include "internal.h"

void rs_next_generation(struct registry *reg, char out[24])
{
    int64_t ticks = time_now_ms() * 10000 + RS_TICKS_AT_UNIX_EPOCH;
    /* Unique per (re)creation even within one millisecond or when the clock steps back. */
    if (ticks <= reg->last_generation)
        ticks = reg->last_generation + 1;
    reg->last_generation = ticks;
    snprintf(out, 24, "%" PRId64, ticks);
}

void rs_etag_format(int64_t version, char *out, size_t cap)
{
    char dec[24];
    int n = snprintf(dec, sizeof(dec), "%" PRId64, version);
    if (base64_encode((const uint8_t *)dec, (size_t)n, out, cap) < 0 && cap > 0)
        out[0] = '\0';
}

bool rs_etag_matches(const char *if_match, int64_t version)
{
    if (!if_match)
        return true;
    const char *p = if_match;
    size_t n = strlen(p);
    if (n >= 2 && p[0] == 'W' && p[1] == '/') {
        p += 2;
        n -= 2;
    }
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    if (n == 1 && p[0] == '*')
        return true;
    char etag[32];
    rs_etag_format(version, etag, sizeof(etag));
    return strlen(etag) == n && memcmp(etag, p, n) == 0;
}
