/* eh-latency-producer: device telemetry at a steady rate for the latency benchmark of
 * bench/eventhubs-consumer. Uses libiothub's device client (do-work mode, MQTT over TLS to
 * port 8883, SAS keys) for --devices devices read from a keys file ('deviceId key' lines, as
 * iothub-bench --create-devices writes), all driven from one thread. Message i goes to device
 * i mod N; its body is JSON {"t":SEND_NS,"seq":i,"pad":"..."} padded to --payload-size
 * bytes, SEND_NS the CLOCK_REALTIME time at which it was handed to the client.
 * Prints one JSON object: sent, confirmed, failed, seconds, msgs_per_s.
 *
 *   eh-latency-producer --keys-file F --cafile CA [--hostname localhost] [--devices 50]
 *                       [--rate 2000] [--duration 25] [--payload-size 256] */
#include <getopt.h>
#include <inttypes.h>
#include <iothub/iothub_device_client.h>
#include <iothub/iothub_message.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEVICES 1000

static long confirmed, failed;

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_confirm(iothub_confirmation_result_t r, void *ctx)
{
    (void)ctx;
    if (r == IOTHUB_CONFIRMATION_OK)
        confirmed++;
    else
        failed++;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static void work_all(iothub_device_client_ll_t **c, size_t n, int max_wait_ms)
{
    struct pollfd pfd[MAX_DEVICES];
    size_t np = 0;
    int wait = max_wait_ms;
    for (size_t i = 0; i < n; i++) {
        int fd = -1, t = -1;
        bool ww = false;
        if (iothub_device_client_ll_get_poll(c[i], &fd, &ww, &t) != 0)
            continue;
        if (t >= 0 && t < wait)
            wait = t;
        if (fd >= 0) {
            pfd[np].fd = fd;
            pfd[np].events = (short)(POLLIN | (ww ? POLLOUT : 0));
            pfd[np].revents = 0;
            np++;
        }
    }
    poll(pfd, (nfds_t)np, wait);
    for (size_t i = 0; i < n; i++)
        iothub_device_client_ll_do_work(c[i]);
}

int main(int argc, char **argv)
{
    const char *keys = NULL, *cafile = NULL, *hostname = "localhost";
    long devices = 50, rate = 2000, payload = 256;
    double duration = 25;
    static const struct option longopts[] = {
        {"keys-file", required_argument, NULL, 'k'},    {"cafile", required_argument, NULL, 'a'},
        {"hostname", required_argument, NULL, 'h'},     {"devices", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},         {"duration", required_argument, NULL, 'd'},
        {"payload-size", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            keys = optarg;
            break;
        case 'a':
            cafile = optarg;
            break;
        case 'h':
            hostname = optarg;
            break;
        case 'n':
            devices = atol(optarg);
            break;
        case 'r':
            rate = atol(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'p':
            payload = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: eh-latency-producer --keys-file F --cafile CA [--hostname H] "
                            "[--devices N] [--rate R] [--duration S] [--payload-size B]\n");
            return 2;
        }
    }
    if (!keys || !cafile || devices < 1 || devices > MAX_DEVICES || rate < 1 || payload < 64 ||
        payload > 65536) {
        fprintf(stderr, "eh-latency-producer: bad or missing options (try --help)\n");
        return 2;
    }
    char *ca = read_file(cafile);
    FILE *kf = fopen(keys, "r");
    if (!ca || !kf) {
        fprintf(stderr, "eh-latency-producer: cannot read %s or %s\n", cafile, keys);
        return 1;
    }
    static iothub_device_client_ll_t *clients[MAX_DEVICES];
    size_t n = 0;
    char id[256], key[256];
    while (n < (size_t)devices && fscanf(kf, "%255s %255s", id, key) == 2) {
        if (iothub_device_client_ll_create_with_key(&clients[n], hostname, id, key,
                                                    IOTHUB_TRANSPORT_MQTT) != 0 ||
            iothub_device_client_ll_set_option_string(clients[n], IOTHUB_OPTION_TRUSTED_CERT, ca) !=
                0) {
            fprintf(stderr, "eh-latency-producer: cannot create the client of %s\n", id);
            return 1;
        }
        n++;
    }
    fclose(kf);
    if (n < (size_t)devices) {
        fprintf(stderr, "eh-latency-producer: %s has only %zu devices\n", keys, n);
        return 1;
    }
    char *body = malloc((size_t)payload + 1);
    if (!body)
        return 1;
    long sent = 0, errors = 0;
    int64_t start = mono_ns(), end = start + (int64_t)(duration * 1e9);
    for (;;) {
        int64_t now = mono_ns();
        if (now >= end)
            break;
        long due = (long)((double)(now - start) * (double)rate / 1e9);
        while (sent < due) {
            int h = snprintf(body, (size_t)payload + 1, "{\"t\":%" PRId64 ",\"seq\":%ld,\"pad\":\"",
                             realtime_ns(), sent);
            memset(body + h, 'x', (size_t)(payload - h - 2));
            memcpy(body + payload - 2, "\"}", 2);
            iothub_message_t *m = NULL;
            if (iothub_message_create_from_bytes(&m, body, (size_t)payload) != 0 ||
                iothub_device_client_ll_send_event_async(clients[sent % (long)n], m, on_confirm,
                                                         NULL) != 0)
                errors++;
            iothub_message_destroy(m);
            sent++;
            iothub_device_client_ll_do_work(clients[(sent - 1) % (long)n]);
        }
        work_all(clients, n, 1);
    }
    int64_t stop = mono_ns();
    int64_t grace = stop + 10 * (int64_t)1000000000;
    while (confirmed + failed < sent - errors && mono_ns() < grace)
        work_all(clients, n, 5);
    for (size_t i = 0; i < n; i++)
        iothub_device_client_ll_destroy(clients[i]);
    printf("{\"sent\": %ld, \"confirmed\": %ld, \"failed\": %ld, \"send_errors\": %ld, "
           "\"seconds\": %.2f, \"msgs_per_s\": %.0f, \"devices\": %zu}\n",
           sent, confirmed, failed, errors, (double)(stop - start) / 1e9,
           (double)sent * 1e9 / (double)(stop - start), n);
    free(body);
    free(ca);
    return failed || errors ? 1 : 0;
}
