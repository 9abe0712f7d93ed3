/* Log-linear histogram of durations in nanoseconds: exact below 128 ns, then 64 buckets per
 * power of two (under 1.6 % error). Fixed size, no allocation; merge per-thread copies. */
#ifndef IOTHUB_BENCH_HIST_H
#define IOTHUB_BENCH_HIST_H

#include <stdint.h>

#define HIST_BUCKETS (58 * 64 + 64)

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at quantile q (0..1); 0 for an empty histogram. The maximum is exact. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
