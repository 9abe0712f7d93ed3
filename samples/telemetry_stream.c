/* Steady telemetry with the do-work (single-threaded) client: sends MSG_COUNT messages,
 * one every INTERVAL_MS, from its own poll() loop, and prints one line per event:
 *
 *   sent message_N
 *   confirmed message_N OK|MESSAGE_TIMEOUT|ERROR|BECAUSE_DESTROY
 *   status AUTHENTICATED|UNAUTHENTICATED REASON
 *   summary sent=N ok=N timeout=N error=N destroy=N
 *
 * It then waits (at most WAIT_S seconds) for every confirmation before destroying the
 * client. Used by tests/integration/test_11_libiothub_reconnect.py, which restarts the hub
 * in the middle of the stream.
 *
 *   DEVICE_CS       HostName=...;DeviceId=...;SharedAccessKey=...
 *   MSG_COUNT       messages (default 20)
 *   INTERVAL_MS     between messages (default 100)
 *   MESSAGE_TIMEOUT messageTimeout in ms (default 0: none)
 *   WAIT_S          how long to wait for the last confirmations (default 60)
 *   IOTHUB_CA_FILE  PEM CA to trust
 *   LOGTRACE        1: trace MQTT packets on stderr
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <iothub/iothub.h>

#include "sample_util.h"

struct stream {
    int sent, ok, timeout, error, destroy;
};

struct item {
    struct stream *stream;
    int index;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && v[0] ? atoi(v) : def;
}

static void on_confirm(iothub_confirmation_result_t result, void *ctx)
{
    struct item *it = ctx;
    printf("confirmed message_%d %s\n", it->index, iothub_confirmation_result_name(result));
    fflush(stdout);
    switch (result) {
    case IOTHUB_CONFIRMATION_OK:
        it->stream->ok++;
        break;
    case IOTHUB_CONFIRMATION_MESSAGE_TIMEOUT:
        it->stream->timeout++;
        break;
    case IOTHUB_CONFIRMATION_ERROR:
        it->stream->error++;
        break;
    case IOTHUB_CONFIRMATION_BECAUSE_DESTROY:
        it->stream->destroy++;
        break;
    }
}

static void on_status(iothub_connection_status_t status, iothub_connection_status_reason_t reason,
                      void *ctx)
{
    (void)ctx;
    printf("status %s %s\n", iothub_connection_status_name(status),
           iothub_connection_status_reason_name(reason));
    fflush(stdout);
}

static int send_one(iothub_device_client_ll_t *client, struct item *it)
{
    char text[96], id[48];
    snprintf(text, sizeof(text), "{\"deviceId\": \"stream\",\"seq\": %d}", it->index);
    iothub_message_t *m = NULL;
    int rc = iothub_message_create_from_string(&m, text);
    if (rc)
        return rc;
    snprintf(id, sizeof(id), "message_%d", it->index);
    if ((rc = iothub_message_set_message_id(m, id)) == 0 &&
        (rc = iothub_message_set_content_type(m, "application/json")) == 0 &&
        (rc = iothub_message_set_content_encoding(m, "utf-8")) == 0)
        rc = iothub_device_client_ll_send_event_async(client, m, on_confirm, it);
    iothub_message_destroy(m); /* the client keeps its own copy */
    return rc;
}

int main(void)
{
    const char *cs = getenv("DEVICE_CS");
    int count = env_int("MSG_COUNT", 20), interval = env_int("INTERVAL_MS", 100);
    int wait_s = env_int("WAIT_S", 60);
    struct stream stream = {0};
    struct item *items = calloc(count > 0 ? (size_t)count : 1, sizeof(*items));
    iothub_device_client_ll_t *client = NULL;
    char *ca = NULL;
    int rc = items ? 0 : IOTHUB_ENOMEM;
    if (!rc && !cs)
        rc = IOTHUB_EINVAL;
    if (!rc)
        rc = iothub_device_client_ll_create_from_connection_string(&client, cs,
                                                                   IOTHUB_TRANSPORT_MQTT);
    if (rc)
        goto out;
    const char *ca_file = getenv("IOTHUB_CA_FILE");
    if (ca_file && ca_file[0] && !(ca = sample_read_file(ca_file))) {
        rc = IOTHUB_EINVAL;
        goto out;
    }
    if ((ca && (rc = iothub_device_client_ll_set_option_string(client, "TrustedCerts", ca))) ||
        (rc = iothub_device_client_ll_set_option_int(client, "messageTimeout",
                                                     env_int("MESSAGE_TIMEOUT", 0))) ||
        (rc = iothub_device_client_ll_set_option_int(client, "logtrace", env_int("LOGTRACE", 0))) ||
        (rc = iothub_device_client_ll_set_retry_policy(
             client, IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER, 0)) ||
        (rc = iothub_device_client_ll_set_connection_status_callback(client, on_status, NULL)))
        goto out;

    long long next_send = now_ms(), give_up = -1;
    for (;;) {
        long long now = now_ms();
        if (stream.sent < count && now >= next_send) {
            struct item *it = &items[stream.sent];
            it->stream = &stream;
            it->index = stream.sent;
            if ((rc = send_one(client, it)) != 0)
                goto out;
            printf("sent message_%d\n", it->index);
            fflush(stdout);
            stream.sent++;
            next_send = now + interval;
        }
        iothub_device_client_ll_do_work(client);
        int done = stream.ok + stream.timeout + stream.error + stream.destroy;
        if (stream.sent == count && done == count)
            break;
        if (stream.sent == count && give_up < 0)
            give_up = now + (long long)wait_s * 1000;
        if (give_up >= 0 && now >= give_up)
            break;
        int fd, timeout;
        bool want_write;
        iothub_device_client_ll_get_poll(client, &fd, &want_write, &timeout);
        if (stream.sent < count && (timeout < 0 || next_send - now < timeout))
            timeout = next_send > now ? (int)(next_send - now) : 0;
        if (timeout < 0 || timeout > 100)
            timeout = 100;
        struct pollfd p = {.fd = fd, .events = (short)(POLLIN | (want_write ? POLLOUT : 0))};
        poll(&p, fd >= 0 ? 1 : 0, timeout);
    }
out:
    iothub_device_client_ll_destroy(client);
    if (rc)
        printf("error %s (%s)\n", iothub_err_name(rc), iothub_strerror(rc));
    printf("summary sent=%d ok=%d timeout=%d error=%d destroy=%d\n", stream.sent, stream.ok,
           stream.timeout, stream.error, stream.destroy);
    free(ca);
    free(items);
    iothub_global_deinit();
    return rc == 0 ? 0 : 1;
}
