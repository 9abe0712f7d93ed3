/* iothub-bench: MQTT load generator. See opts.c for the options, bench/mqtt-telemetry for
 * how the benchmark drives it. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "server.h"
#include "setup.h"

static struct bench *running;

static void on_signal(int sig)
{
    (void)sig;
    if (running)
        atomic_store(&running->stop, 1);
}

static int make_workers(struct bench *b)
{
    const struct bench_opts *o = b->o;
    int t = o->threads;
    b->workers = calloc((size_t)t, sizeof(*b->workers));
    if (!b->workers)
        return -1;
    for (int i = 0; i < t; i++)
        b->workers[i].epfd = -1;
    for (int i = 0; i < t; i++) {
        struct worker *w = &b->workers[i];
        w->b = b;
        w->id = i;
        w->nconns = (size_t)(o->connections / t + (i < o->connections % t ? 1 : 0));
        w->conns = calloc(w->nconns, sizeof(*w->conns));
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (!w->conns || w->epfd < 0)
            return -1;
        for (size_t k = 0; k < w->nconns; k++) {
            w->conns[k].fd = -1;
            w->conns[k].device = (uint32_t)(((size_t)i + k * (size_t)t) % b->devs->n);
        }
        w->connect_rate = o->connect_rate / t;
        w->max_pending = o->max_pending / t > 0 ? o->max_pending / t : 1;
        w->rate = o->rate / t;
        /* A paced connection sends about what its share of the rate allows in a millisecond
         * (one message at a time at device-like rates), then waits for its next turn. */
        double per_ms = o->rate / o->connections / 1000;
        w->turn_batch = per_ms < 1 ? 1 : per_ms > 64 ? 64 : (uint32_t)(per_ms + 0.5);
        atomic_init(&w->done, 0);
    }
    return 0;
}

/* Waits until every connection is up or has failed, then opens the measurement window. */
static void open_window(struct bench *b, int64_t t0)
{
    const struct bench_opts *o = b->o;
    int64_t next_report = t0 + 1000000000;
    for (;;) {
        usleep(10000);
        if (atomic_load(&b->stop))
            return;
        size_t done = 0;
        for (int i = 0; i < o->threads; i++)
            done += atomic_load(&b->workers[i].done);
        int64_t now = mono_ns();
        if (done >= (size_t)o->connections) {
            int64_t start = now + (o->idle ? 0 : (int64_t)(o->warmup * 1e9));
            atomic_store(&b->win_end, start + (int64_t)(o->duration * 1e9));
            atomic_store(&b->win_start, start);
            fprintf(stderr, "iothub-bench: connections done after %.1f s\n",
                    (double)(now - t0) / 1e9);
            if (o->ready_file) {
                int fd = open(o->ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd >= 0)
                    close(fd);
            }
            return;
        }
        if (now >= next_report) {
            fprintf(stderr, "iothub-bench: %zu of %d connections done\n", done, o->connections);
            next_report = now + 1000000000;
        }
    }
}

/* Sleeps until the monotonic time t (or a stop). */
static void sleep_until(const struct bench *b, int64_t t)
{
    while (!atomic_load(&b->stop)) {
        int64_t left = t - mono_ns();
        if (left <= 0)
            return;
        usleep(left > 10000000 ? 10000 : (useconds_t)(left / 1000));
    }
}

static void merge(const struct bench *b, struct stats *all)
{
    memset(all, 0, sizeof(*all));
    for (int i = 0; i < b->o->threads; i++) {
        const struct stats *s = &b->workers[i].st;
        all->sent += s->sent;
        all->acked += s->acked;
        all->sent_total += s->sent_total;
        all->acked_total += s->acked_total;
        all->wire_bytes += s->wire_bytes;
        all->unacked_end += s->unacked_end;
        all->established += s->established;
        for (int k = 0; k < 6; k++)
            all->refused[k] += s->refused[k];
        all->connect_failed += s->connect_failed;
        all->tls_failed += s->tls_failed;
        all->connect_timeout += s->connect_timeout;
        all->disconnected += s->disconnected;
        all->protocol += s->protocol;
        all->unknown_ack += s->unknown_ack;
        all->pings += s->pings;
        if (s->first_start_ns && (!all->first_start_ns || s->first_start_ns < all->first_start_ns))
            all->first_start_ns = s->first_start_ns;
        if (s->last_connack_ns > all->last_connack_ns)
            all->last_connack_ns = s->last_connack_ns;
        hist_merge(&all->latency, &s->latency);
        hist_merge(&all->connects, &s->connects);
    }
}

static int run(struct bench *b)
{
    const struct bench_opts *o = b->o;
    if (make_workers(b) != 0) {
        fprintf(stderr, "iothub-bench: out of memory or file descriptors\n");
        return -1;
    }
    running = b;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct server_sample samples[3] = {0};
    server_sample(o->server_pid, &samples[0]);
    int64_t t0 = mono_ns();
    for (int i = 0; i < o->threads; i++)
        if (pthread_create(&b->workers[i].thread, NULL, worker_main, &b->workers[i]) != 0) {
            fprintf(stderr, "iothub-bench: cannot start threads\n");
            exit(1);
        }
    open_window(b, t0);
    if (atomic_load(&b->win_start)) {
        sleep_until(b, atomic_load(&b->win_start));
        server_sample(o->server_pid, &samples[1]);
        sleep_until(b, atomic_load(&b->win_end));
        server_sample(o->server_pid, &samples[2]);
    }
    for (int i = 0; i < o->threads; i++)
        pthread_join(b->workers[i].thread, NULL);
    int64_t end = mono_ns(), start = atomic_load(&b->win_start);
    int64_t win_end = atomic_load(&b->win_end);
    double window =
        start && end > start ? (double)((end < win_end ? end : win_end) - start) / 1e9 : 0;
    struct stats *all = malloc(sizeof(*all));
    if (!all)
        return -1;
    merge(b, all);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    report_print(b, all, window, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, samples);
    int ok = all->established == (uint64_t)o->connections && all->disconnected == 0 &&
             all->protocol == 0;
    free(all);
    return ok ? 0 : 3;
}

static void bench_free(struct bench *b)
{
    for (int i = 0; b->workers && i < b->o->threads; i++) {
        if (b->workers[i].epfd >= 0)
            close(b->workers[i].epfd);
        free(b->workers[i].conns);
    }
    free(b->workers);
    free(b->payload);
    SSL_CTX_free(b->ssl_ctx);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    int rc = opts_parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    struct device_set devs;
    if (devices_load(&o, &devs) != 0) {
        devices_free(&devs);
        return 1;
    }
    if (o.create_only) {
        printf("{\"devices\": %zu}\n", devs.n);
        devices_free(&devs);
        return 0;
    }
    setup_nofile(o.connections);
    static struct bench b; /* large (per-thread histograms live in the workers) */
    b.o = &o;
    b.devs = &devs;
    rc = setup_target(&b) != 0 || setup_tls(&b) != 0 || setup_payload(&b) != 0 ? -1 : run(&b);
    bench_free(&b);
    devices_free(&devs);
    return rc < 0 ? 1 : rc;
}
