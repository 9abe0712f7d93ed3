/* Samples of the server process under test (--server-pid): CPU time and resident memory
 * from /proc, taken before connecting, when the window opens and when it closes. */
#ifndef IOTHUB_BENCH_SERVER_H
#define IOTHUB_BENCH_SERVER_H

#include <stdbool.h>

struct server_sample {
    bool ok;
    double cpu_s; /* user + system */
    long rss_kb;  /* VmRSS */
};

void server_sample(int pid, struct server_sample *s);

#endif
