/* libFuzzer target: the Event Hubs selector filter of AMQP receiver links
 * (amqp_filter_parse, spec 5.4).
 *
 * The parser needs only libc, so its source is compiled in here (the fuzz targets link the
 * codec and store libraries, not the daemon's). Besides "no crash, no sanitizer report" it
 * checks that
 *  - an accepted filter is well-formed: a known start, a non-negative value, value 0 and
 *    not inclusive for EARLIEST and LATEST;
 *  - a refusal always comes with a reason;
 *  - formatting an accepted filter back as the SDK would and parsing it gives the same
 *    filter. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/amqp/filter.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static const char *name_of(enum amqp_filter_start s)
{
    switch (s) {
    case AMQP_START_SEQ:
        return "x-opt-sequence-number";
    case AMQP_START_TIME:
        return "x-opt-enqueued-time";
    default:
        return "x-opt-offset";
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct amqp_filter f;
    char err[256] = "";
    int rc = amqp_filter_parse((const char *)data, size, &f, err, sizeof(err));
    if (rc != 0) {
        check(rc == -1);
        check(err[0] != '\0');
        return 0;
    }
    check(f.start >= AMQP_START_EARLIEST && f.start <= AMQP_START_TIME);
    check(f.value >= 0);
    if (f.start == AMQP_START_EARLIEST || f.start == AMQP_START_LATEST)
        check(f.value == 0 && !f.inclusive);

    char again[128];
    if (f.start == AMQP_START_EARLIEST)
        snprintf(again, sizeof(again), "amqp.annotation.x-opt-offset > '-1'");
    else if (f.start == AMQP_START_LATEST)
        snprintf(again, sizeof(again), "amqp.annotation.x-opt-offset > '@latest'");
    else
        snprintf(again, sizeof(again), "amqp.annotation.%s %s '%lld'", name_of(f.start),
                 f.inclusive ? ">=" : ">", (long long)f.value);
    struct amqp_filter g;
    check(amqp_filter_parse(again, strlen(again), &g, err, sizeof(err)) == 0);
    check(g.start == f.start && g.value == f.value && g.inclusive == f.inclusive);
    return 0;
}
