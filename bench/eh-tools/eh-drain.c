/* eh-drain: one Event Hubs consumer reading every partition of the hub's Event
 * Hubs-compatible endpoint from the start, as fast as the hub sends, until it has every
 * event that the partitions held when it started (from the $management partition READs).
 * Prints one JSON object: events, bytes, seconds (from opening the receivers to the last
 * event), events_per_s, MB_per_s, and the consumer's own CPU time.
 *
 *   eh-drain --cs "Endpoint=sb://..." [--cafile CA] [--host H] [--port 5671]
 *            [--credit 2000] [--no-decode] [--consumer-group G] [--max-events N] */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "eh_amqp.h"

struct drain {
    int64_t want_total, max_events;
    int64_t want[EH_MAX_PARTITIONS], got[EH_MAX_PARTITIONS];
    int64_t events, bytes, payload_bytes;
    int64_t t_open_ns, t_ready_ns, t_first_ns, t_last_ns;
    size_t nparts;
};

static void on_partitions(struct eh_consumer *c, void *ctx)
{
    struct drain *d = ctx;
    const struct eh_partition_info *p;
    d->nparts = eh_consumer_partitions(c, &p);
    for (size_t i = 0; i < d->nparts; i++) {
        d->want[i] = p[i].last_seq >= p[i].begin_seq ? p[i].last_seq - p[i].begin_seq + 1 : 0;
        d->want_total += d->want[i];
    }
    if (d->max_events > 0 && d->want_total > d->max_events)
        d->want_total = d->max_events;
    fprintf(stderr, "eh-drain: %zu partitions hold %" PRId64 " events; draining\n", d->nparts,
            d->want_total);
    if (d->want_total == 0) {
        eh_consumer_stop(c);
        return;
    }
    d->t_open_ns = eh_mono_ns();
    eh_consumer_open_receivers(c);
}

static void on_ready(struct eh_consumer *c, void *ctx)
{
    (void)c;
    struct drain *d = ctx;
    d->t_ready_ns = eh_mono_ns();
}

static void on_event(struct eh_consumer *c, void *ctx, size_t part, const char *bytes, size_t len,
                     pn_message_t *msg)
{
    (void)bytes;
    struct drain *d = ctx;
    int64_t now = eh_mono_ns();
    if (d->events == 0)
        d->t_first_ns = now;
    d->t_last_ns = now;
    d->events++;
    d->bytes += (int64_t)len;
    if (msg) {
        pn_data_t *body = pn_message_body(msg);
        pn_data_rewind(body);
        if (pn_data_next(body))
            d->payload_bytes += (int64_t)pn_data_get_bytes(body).size;
    }
    d->got[part]++;
    if (d->events >= d->want_total)
        eh_consumer_stop(c);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    struct eh_options o = {.filter = "amqp.annotation.x-opt-offset > '-1'",
                           .credit = 2000,
                           .decode = true,
                           .read_partitions = true};
    struct drain d = {0};
    static const struct option longopts[] = {{"cs", required_argument, NULL, 'c'},
                                             {"cafile", required_argument, NULL, 'a'},
                                             {"host", required_argument, NULL, 'h'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"credit", required_argument, NULL, 'r'},
                                             {"no-decode", no_argument, NULL, 'n'},
                                             {"consumer-group", required_argument, NULL, 'g'},
                                             {"max-events", required_argument, NULL, 'm'},
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
        case 'n':
            o.decode = false;
            break;
        case 'g':
            o.consumer_group = optarg;
            break;
        case 'm':
            d.max_events = strtoll(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: eh-drain --cs CONNECTION_STRING [--cafile CA] [--host H] "
                            "[--port N] [--credit N] [--no-decode] [--consumer-group G] "
                            "[--max-events N]\n");
            return 2;
        }
    }
    if (!o.connection_string) {
        fprintf(stderr, "eh-drain: --cs is required\n");
        return 2;
    }
    struct eh_callbacks cb = {
        .on_partitions = on_partitions, .on_ready = on_ready, .on_event = on_event};
    struct eh_consumer *c;
    if (eh_consumer_new(&c, &o, &cb, &d) != 0)
        return 1;
    double cpu0 = cpu_seconds();
    int rc = eh_consumer_run(c);
    double cpu = cpu_seconds() - cpu0;
    eh_consumer_free(c);
    double secs = d.events ? (double)(d.t_last_ns - d.t_open_ns) / 1e9 : 0;
    double first = d.events ? (double)(d.t_first_ns - d.t_open_ns) / 1e9 : 0;
    printf("{\"events\": %" PRId64 ", \"expected\": %" PRId64 ", \"partitions\": %zu, "
           "\"seconds\": %.3f, \"events_per_s\": %.0f, \"MB_per_s\": %.2f, "
           "\"amqp_bytes\": %" PRId64 ", \"body_bytes\": %" PRId64 ", "
           "\"first_event_after_s\": %.3f, \"attach_s\": %.3f, \"credit\": %d, "
           "\"decode\": %s, \"consumer_cpu_s\": %.2f}\n",
           d.events, d.want_total, d.nparts, secs, secs > 0 ? (double)d.events / secs : 0,
           secs > 0 ? (double)d.bytes / secs / 1e6 : 0, d.bytes, d.payload_bytes, first,
           d.t_ready_ns ? (double)(d.t_ready_ns - d.t_open_ns) / 1e9 : 0, o.credit,
           o.decode ? "true" : "false", cpu);
    return rc != 0 || d.events < d.want_total ? 1 : 0;
}
