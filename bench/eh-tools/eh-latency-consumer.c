/* eh-latency-consumer: one Event Hubs consumer on every partition from the latest position
 * ('@latest'), recording for each event receive time - send time, where the send time is the
 * "t" field (CLOCK_REALTIME ns) that eh-latency-producer puts in the JSON body. Same machine,
 * same clock. After every receiver is attached it writes --ready-file, ignores --warmup
 * seconds of events, then records for --duration seconds and prints one JSON object with
 * the count and p50/p90/p99/p99.9/max in ms.
 *
 *   eh-latency-consumer --cs "Endpoint=sb://..." [--cafile CA] [--host H] [--port 5671]
 *                       [--credit 1000] [--warmup 2] [--duration 20] [--ready-file F] */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eh_amqp.h"

struct lat {
    double warmup_s, duration_s;
    const char *ready_file;
    int phase; /* 0 attaching, 1 warm-up, 2 measuring, 3 done */
    int64_t *samples;
    size_t n, cap;
    int64_t events, unparsed, window_start_ns, window_end_ns;
};

static void on_ready(struct eh_consumer *c, void *ctx)
{
    struct lat *l = ctx;
    if (l->ready_file) {
        FILE *f = fopen(l->ready_file, "w");
        if (f)
            fclose(f);
    }
    fprintf(stderr, "eh-latency-consumer: ready\n");
    l->phase = 1;
    eh_consumer_set_timer(c, (int64_t)(l->warmup_s * 1000));
}

static void on_timer(struct eh_consumer *c, void *ctx)
{
    struct lat *l = ctx;
    if (l->phase == 1) {
        l->phase = 2;
        l->window_start_ns = eh_mono_ns();
        eh_consumer_set_timer(c, (int64_t)(l->duration_s * 1000));
    } else if (l->phase == 2) {
        l->phase = 3;
        l->window_end_ns = eh_mono_ns();
        eh_consumer_stop(c);
    }
}

static void on_event(struct eh_consumer *c, void *ctx, size_t part, const char *bytes, size_t len,
                     pn_message_t *msg)
{
    (void)c, (void)part, (void)bytes, (void)len;
    struct lat *l = ctx;
    int64_t now = eh_now_ns();
    l->events++;
    if (l->phase != 2 || !msg)
        return;
    pn_data_t *body = pn_message_body(msg);
    pn_data_rewind(body);
    if (!pn_data_next(body)) {
        l->unparsed++;
        return;
    }
    pn_bytes_t b = pn_data_get_bytes(body);
    char head[64];
    size_t hl = b.size < sizeof(head) - 1 ? b.size : sizeof(head) - 1;
    memcpy(head, b.start, hl);
    head[hl] = '\0';
    const char *t = strstr(head, "\"t\":");
    if (!t) {
        l->unparsed++;
        return;
    }
    int64_t sent = strtoll(t + 4, NULL, 10);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 65536;
        int64_t *g = realloc(l->samples, cap * sizeof(*g));
        if (!g)
            return;
        l->samples = g;
        l->cap = cap;
    }
    l->samples[l->n++] = now - sent;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const struct lat *l, double p)
{
    if (l->n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(l->n - 1) + 0.5);
    return (double)l->samples[i] / 1e6;
}

int main(int argc, char **argv)
{
    struct eh_options o = {
        .filter = "amqp.annotation.x-opt-offset > '@latest'", .credit = 1000, .decode = true};
    struct lat l = {.warmup_s = 2, .duration_s = 20};
    static const struct option longopts[] = {{"cs", required_argument, NULL, 'c'},
                                             {"cafile", required_argument, NULL, 'a'},
                                             {"host", required_argument, NULL, 'h'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"credit", required_argument, NULL, 'r'},
                                             {"warmup", required_argument, NULL, 'w'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {"ready-file", required_argument, NULL, 'f'},
                                             {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o.connection_string = optarg;
            break;
        case 'a':
            o.cafile = optarg;
            break;
        case 'h':
            o.connect_host = optarg;
            break;
        case 'p':
            o.port = atoi(optarg);
            break;
        case 'r':
            o.credit = atoi(optarg);
            break;
        case 'w':
            l.warmup_s = atof(optarg);
            break;
        case 'd':
            l.duration_s = atof(optarg);
            break;
        case 'f':
            l.ready_file = optarg;
            break;
        default:
            fprintf(stderr, "usage: eh-latency-consumer --cs CONNECTION_STRING [--cafile CA] "
                            "[--host H] [--port N] [--credit N] [--warmup S] [--duration S] "
                            "[--ready-file F]\n");
            return 2;
        }
    }
    if (!o.connection_string) {
        fprintf(stderr, "eh-latency-consumer: --cs is required\n");
        return 2;
    }
    struct eh_callbacks cb = {.on_ready = on_ready, .on_event = on_event, .on_timer = on_timer};
    struct eh_consumer *c;
    if (eh_consumer_new(&c, &o, &cb, &l) != 0)
        return 1;
    int rc = eh_consumer_run(c);
    eh_consumer_free(c);
    qsort(l.samples, l.n, sizeof(*l.samples), cmp64);
    double window = l.window_end_ns > l.window_start_ns
                        ? (double)(l.window_end_ns - l.window_start_ns) / 1e9
                        : 0;
    printf("{\"samples\": %zu, \"window_s\": %.2f, \"events_per_s\": %.0f, \"unparsed\": %" PRId64
           ", \"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p999\": %.3f, "
           "\"max\": %.3f, \"min\": %.3f}}\n",
           l.n, window, window > 0 ? (double)l.n / window : 0, l.unparsed, pct(&l, 50), pct(&l, 90),
           pct(&l, 99), pct(&l, 99.9), l.n ? (double)l.samples[l.n - 1] / 1e6 : 0,
           l.n ? (double)l.samples[0] / 1e6 : 0);
    free(l.samples);
    return rc != 0 || l.n == 0 ? 1 : 0;
}
