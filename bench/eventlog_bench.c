/* Event log append micro-benchmark: T threads, each appending in a closed loop (one append
 * in flight per thread, as a device with one unacknowledged QoS 1 PUBLISH), for S seconds.
 * Prints appends/s and the p50/p99/max completion latency (append call to completion).
 *
 * Build (against a non-sanitizer build tree B):
 *   cc -O2 -I src bench/eventlog_bench.c B/libiothub_store.a B/libiothub_common.a \
 *      -lsqlite3 -lssl -lcrypto -ljansson -lpthread -o eventlog_bench
 * Run:
 *   ./eventlog_bench [-t threads] [-s seconds] [-b body_bytes] [-p partitions]
 *                    [-n (EVENTLOG_NONE)] [-d dir]
 * Threads are spread over the partitions round-robin. The directory (default a fresh one
 * under /tmp) is removed afterwards. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/eventlog.h"

#define MAX_SAMPLES (1u << 22)

struct worker {
    struct eventlog *log;
    uint32_t partition;
    size_t body_len;
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
    int status;
    uint64_t *lat_ns; /* per append, owned */
    size_t n;
    int failures;
};

static atomic_bool stop;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_done(void *ctx, int status, uint64_t seq, uint64_t offset, int64_t ms)
{
    (void)seq;
    (void)offset;
    (void)ms;
    struct worker *w = ctx;
    pthread_mutex_lock(&w->m);
    w->done = true;
    w->status = status;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

static void *run(void *arg)
{
    struct worker *w = arg;
    uint8_t *body = malloc(w->body_len ? w->body_len : 1);
    if (!body)
        return NULL;
    memset(body, 'x', w->body_len);
    struct eventlog_prop sys[] = {{"iothub-connection-device-id", 27, "bench-device", 12},
                                  {"content-type", 12, "application/json", 16}};
    struct eventlog_message msg = {sys, 2, NULL, 0, body, w->body_len};
    while (!atomic_load(&stop) && w->n < MAX_SAMPLES) {
        w->done = false;
        uint64_t t0 = now_ns();
        int rc = eventlog_append(w->log, w->partition, &msg, on_done, w);
        if (rc != 0) {
            w->failures++;
            continue;
        }
        pthread_mutex_lock(&w->m);
        while (!w->done)
            pthread_cond_wait(&w->c, &w->m);
        pthread_mutex_unlock(&w->m);
        if (w->status != 0)
            w->failures++;
        w->lat_ns[w->n++] = now_ns() - t0;
    }
    free(body);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int threads = 1, seconds = 5, opt;
    size_t body_len = 256;
    uint32_t partitions = 1;
    enum eventlog_durability durability = EVENTLOG_FSYNC;
    char dir[256] = "";
    while ((opt = getopt(argc, argv, "t:s:b:p:nd:")) != -1) {
        switch (opt) {
        case 't':
            threads = atoi(optarg);
            break;
        case 's':
            seconds = atoi(optarg);
            break;
        case 'b':
            body_len = (size_t)atol(optarg);
            break;
        case 'p':
            partitions = (uint32_t)atoi(optarg);
            break;
        case 'n':
            durability = EVENTLOG_NONE;
            break;
        case 'd':
            snprintf(dir, sizeof(dir), "%s", optarg);
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-t threads] [-s seconds] [-b body] [-p partitions] "
                    "[-n] [-d dir]\n",
                    argv[0]);
            return 2;
        }
    }
    if (threads < 1 || seconds < 1 || partitions < 1)
        return 2;
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/eventlog-bench-XXXXXX");
        if (!mkdtemp(dir))
            return 1;
    }
    struct eventlog_options o = {.dir = dir, .partitions = partitions, .durability = durability};
    char err[512];
    struct eventlog *log = eventlog_open(&o, err, sizeof(err));
    if (!log) {
        fprintf(stderr, "eventlog_open: %s\n", err);
        return 1;
    }
    struct worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    if (!w || !th)
        return 1;
    for (int i = 0; i < threads; i++) {
        w[i].log = log;
        w[i].partition = (uint32_t)i % partitions;
        w[i].body_len = body_len;
        w[i].lat_ns = malloc(MAX_SAMPLES * sizeof(uint64_t));
        if (!w[i].lat_ns)
            return 1;
        pthread_mutex_init(&w[i].m, NULL);
        pthread_cond_init(&w[i].c, NULL);
    }
    uint64_t t0 = now_ns();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, run, &w[i]);
    sleep((unsigned)seconds);
    atomic_store(&stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double elapsed = (double)(now_ns() - t0) / 1e9;
    eventlog_close(log);

    size_t total = 0;
    int failures = 0;
    for (int i = 0; i < threads; i++) {
        total += w[i].n;
        failures += w[i].failures;
    }
    uint64_t *all = malloc((total ? total : 1) * sizeof(uint64_t));
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, w[i].lat_ns, w[i].n * sizeof(uint64_t));
        k += w[i].n;
        free(w[i].lat_ns);
    }
    qsort(all, total, sizeof(uint64_t), cmp_u64);
    printf("threads=%d partitions=%u body=%zu durability=%s appends=%zu failures=%d "
           "appends/s=%.0f p50_us=%.0f p99_us=%.0f max_us=%.0f\n",
           threads, partitions, body_len, durability == EVENTLOG_FSYNC ? "fsync" : "none", total,
           failures, (double)total / elapsed, total ? (double)all[total / 2] / 1e3 : 0.0,
           total ? (double)all[total * 99 / 100] / 1e3 : 0.0,
           total ? (double)all[total - 1] / 1e3 : 0.0);
    free(all);
    free(w);
    free(th);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return failures ? 1 : 0;
}
