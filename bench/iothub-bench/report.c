/* The JSON summary on stdout. Durations in milliseconds, rates per second, MB = 10^6 bytes. */
#include <stdio.h>

#include "bench.h"
#include "server.h"

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void print_config(const struct bench *b)
{
    const struct bench_opts *o = b->o;
    printf("  \"label\": ");
    json_str(o->label ? o->label : "");
    printf(",\n  \"target\": {\"host\": ");
    json_str(o->host);
    printf(", \"port\": %d, \"tls\": %s, \"tls_session\": ", o->port, o->tls ? "true" : "false");
    json_str(b->tls_info);
    printf(", \"auth\": \"%s\"},\n", o->no_auth ? "none" : "sas");
    printf("  \"config\": {\"connections\": %d, \"devices\": %d, \"threads\": %d, \"qos\": %d, "
           "\"inflight\": %d, \"rate\": %g, \"payload_size\": %d, \"warmup_s\": %g, "
           "\"duration_s\": %g, \"idle\": %s, \"connect_rate\": %g},\n",
           o->connections, o->devices, o->threads, o->qos, o->inflight, o->rate, o->payload_size,
           o->warmup, o->duration, o->idle ? "true" : "false", o->connect_rate);
}

static void print_connections(const struct bench_opts *o, const struct stats *st)
{
    double span = (double)(st->last_connack_ns - st->first_start_ns) / 1e9;
    printf("  \"connections\": {\"attempted\": %d, \"established\": %llu, "
           "\"connect_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}, "
           "\"connects_per_s\": %.1f},\n",
           o->connections, (unsigned long long)st->established,
           ms(hist_quantile(&st->connects, 0.50)), ms(hist_quantile(&st->connects, 0.99)),
           ms(st->connects.max), span > 0 ? (double)st->established / span : 0.0);
}

static void print_errors(const struct stats *st)
{
    printf("  \"errors\": {\"connack_refused\": {");
    for (int i = 1; i <= 5; i++)
        printf("%s\"%d\": %llu", i > 1 ? ", " : "", i, (unsigned long long)st->refused[i]);
    printf(", \"other\": %llu}, ", (unsigned long long)st->refused[0]);
    printf("\"connect_failed\": %llu, \"tls_failed\": %llu, \"connect_timeout\": %llu, "
           "\"disconnected\": %llu, \"protocol\": %llu, \"unknown_puback\": %llu, "
           "\"unacked_at_end\": %llu}",
           (unsigned long long)st->connect_failed, (unsigned long long)st->tls_failed,
           (unsigned long long)st->connect_timeout, (unsigned long long)st->disconnected,
           (unsigned long long)st->protocol, (unsigned long long)st->unknown_ack,
           (unsigned long long)st->unacked_end);
}

/* The server's CPU in the window and its memory growth per established connection. */
static void print_server(const struct bench_opts *o, const struct stats *st, uint64_t msgs,
                         const struct server_sample *s)
{
    if (!o->server_pid)
        return;
    printf("  \"server\": {\"pid\": %d", o->server_pid);
    if (s[0].ok)
        printf(", \"rss_kb_before\": %ld", s[0].rss_kb);
    if (s[1].ok)
        printf(", \"rss_kb_window_start\": %ld", s[1].rss_kb);
    if (s[2].ok)
        printf(", \"rss_kb_window_end\": %ld", s[2].rss_kb);
    if (s[0].ok && s[2].ok && st->established)
        printf(", \"rss_bytes_per_connection\": %.0f",
               (double)(s[2].rss_kb - s[0].rss_kb) * 1024 / (double)st->established);
    if (s[1].ok && s[2].ok) {
        double cpu = s[2].cpu_s - s[1].cpu_s;
        printf(", \"cpu_s_window\": %.2f", cpu);
        if (msgs)
            printf(", \"cpu_us_per_msg\": %.2f", cpu * 1e6 / (double)msgs);
    }
    printf("},\n");
}

void report_print(const struct bench *b, const struct stats *st, double elapsed_s, double user_s,
                  double sys_s, const struct server_sample *samples)
{
    const struct bench_opts *o = b->o;
    double secs = elapsed_s > 0 ? elapsed_s : 1;
    /* QoS 0 has no acknowledgement: its throughput is what was written. */
    uint64_t done = o->qos ? st->acked : st->sent;
    printf("{\n");
    print_config(b);
    print_connections(o, st);
    printf("  \"window_s\": %.3f,\n", elapsed_s);
    printf("  \"messages\": {\"sent\": %llu, \"acked\": %llu, \"sent_total\": %llu, "
           "\"acked_total\": %llu},\n",
           (unsigned long long)st->sent, (unsigned long long)st->acked,
           (unsigned long long)st->sent_total, (unsigned long long)st->acked_total);
    printf("  \"msgs_per_s\": %.1f,\n", (double)done / secs);
    printf("  \"payload_mb_per_s\": %.3f,\n", (double)done * (double)o->payload_size / secs / 1e6);
    printf("  \"wire_mb_per_s\": %.3f,\n", (double)st->wire_bytes / secs / 1e6);
    printf("  \"puback_latency_ms\": {\"samples\": %llu, \"p50\": %.3f, \"p90\": %.3f, "
           "\"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f},\n",
           (unsigned long long)st->latency.count, ms(hist_quantile(&st->latency, 0.50)),
           ms(hist_quantile(&st->latency, 0.90)), ms(hist_quantile(&st->latency, 0.99)),
           ms(hist_quantile(&st->latency, 0.999)), ms(st->latency.max));
    print_server(o, st, done, samples);
    print_errors(st);
    printf(",\n  \"pings\": %llu,\n", (unsigned long long)st->pings);
    printf("  \"client_cpu_s\": {\"user\": %.2f, \"sys\": %.2f}\n}\n", user_s, sys_s);
    fflush(stdout);
}
