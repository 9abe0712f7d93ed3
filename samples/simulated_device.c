/* The tutorial's SimulatedDevice.py in C: wind-speed telemetry over MQTT with the threaded
 * device client. Bodies alternate between string and bytes messages; each message has the
 * id message_N, the correlation id correlation_N and the property Property=PropMsg_N, and
 * its confirmation callback (on the client's worker thread) prints the result.
 *
 *   DEVICE_CS       HostName=...;DeviceId=...;SharedAccessKey=...
 *   MSG_COUNT       messages to send (default 3)
 *   SLEEP_S         seconds between messages (default 1)
 *   IOTHUB_CA_FILE  PEM CA to trust (iothubd's tls/ca.pem); default: the system store
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <iothub/iothub.h>

#include "sample_util.h"

#define MESSAGE_TIMEOUT 10000
#define AVG_WIND_SPEED  10.0
#define MSG_TXT         "{\"deviceId\": \"MyFirstPythonDevice\",\"windSpeed\": %.2f}"

struct sent {
    int index;
    iothub_message_t *message;
};

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t confirmed_cond = PTHREAD_COND_INITIALIZER;
static int send_callbacks;

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Prints the properties the way Python prints the dict get_internals() returns. */
static void print_properties(const iothub_message_t *m)
{
    printf("    Properties: {");
    for (size_t i = 0; i < iothub_message_property_count(m); i++) {
        const char *k, *v;
        iothub_message_property_at(m, i, &k, &v);
        printf("%s'%s': '%s'", i ? ", " : "", k, v);
    }
    printf("}\n");
}

static void send_confirmation_callback(iothub_confirmation_result_t result, void *ctx)
{
    struct sent *s = ctx;
    pthread_mutex_lock(&print_lock);
    printf("Confirmation[%d] received for message with result = %s\n", s->index,
           iothub_confirmation_result_name(result));
    printf("    message_id: %s\n", iothub_message_get_message_id(s->message));
    printf("    correlation_id: %s\n", iothub_message_get_correlation_id(s->message));
    print_properties(s->message);
    send_callbacks++;
    printf("    Total calls confirmed: %d\n", send_callbacks);
    fflush(stdout);
    pthread_cond_broadcast(&confirmed_cond);
    pthread_mutex_unlock(&print_lock);
}

static int iothub_client_init(iothub_device_client_t **client, const char *cs)
{
    int rc = iothub_device_client_create_from_connection_string(client, cs, IOTHUB_TRANSPORT_MQTT);
    if (rc)
        return rc;
    uint64_t timeout = MESSAGE_TIMEOUT;
    bool logtrace = getenv("LOGTRACE") && atoi(getenv("LOGTRACE")) != 0;
    if ((rc = iothub_device_client_set_option(*client, "messageTimeout", &timeout)) != 0 ||
        (rc = iothub_device_client_set_option(*client, "logtrace", &logtrace)) != 0)
        return rc;
    const char *ca_file = getenv("IOTHUB_CA_FILE");
    if (ca_file && ca_file[0]) {
        char *ca = sample_read_file(ca_file);
        if (!ca) {
            fprintf(stderr, "cannot read %s\n", ca_file);
            return IOTHUB_EINVAL;
        }
        rc = iothub_device_client_set_option(*client, "TrustedCerts", ca);
        free(ca);
    }
    return rc;
}

static int make_message(struct sent *s, int counter)
{
    char text[128];
    double r = (double)rand() / ((double)RAND_MAX + 1.0);
    snprintf(text, sizeof(text), MSG_TXT, AVG_WIND_SPEED + (r * 4 + 2));
    /* messages can be encoded as string or bytes */
    int rc = (counter & 1) == 1 ? iothub_message_create_from_bytes(&s->message, text, strlen(text))
                                : iothub_message_create_from_string(&s->message, text);
    if (rc)
        return rc;
    char id[64], prop[64];
    snprintf(id, sizeof(id), "message_%d", counter);
    if ((rc = iothub_message_set_message_id(s->message, id)) != 0)
        return rc;
    snprintf(id, sizeof(id), "correlation_%d", counter);
    if ((rc = iothub_message_set_correlation_id(s->message, id)) != 0)
        return rc;
    snprintf(prop, sizeof(prop), "PropMsg_%d", counter);
    return iothub_message_property_add(s->message, "Property", prop);
}

static int iothub_client_telemetry_sample_run(const char *cs, int msg_count, double sleep_sec)
{
    iothub_device_client_t *client = NULL;
    struct sent *sent = calloc(msg_count > 0 ? (size_t)msg_count : 1, sizeof(*sent));
    int accepted = 0;
    int rc = sent ? iothub_client_init(&client, cs) : IOTHUB_ENOMEM;
    if (rc)
        goto fail;
    printf("IoT Hub device sending periodic messages, press Ctrl-C to exit\n");
    fflush(stdout);
    for (int message_counter = 0; message_counter < msg_count; message_counter++) {
        struct sent *s = &sent[message_counter];
        s->index = message_counter;
        if ((rc = make_message(s, message_counter)) != 0)
            goto fail;
        pthread_mutex_lock(&print_lock);
        rc = iothub_device_client_send_event_async(client, s->message, send_confirmation_callback,
                                                   s);
        if (rc) {
            pthread_mutex_unlock(&print_lock);
            goto fail;
        }
        accepted++;
        printf("IoTHubClient.send_event_async accepted message [%d] for transmission to IoT "
               "Hub.\n",
               message_counter);
        iothub_send_status_t status;
        iothub_device_client_get_send_status(client, &status);
        printf("Send status: %s\n", iothub_send_status_name(status));
        fflush(stdout);
        pthread_mutex_unlock(&print_lock);
        sleep_s(sleep_sec);
        iothub_device_client_get_send_status(client, &status);
        pthread_mutex_lock(&print_lock);
        printf("Send status: %s\n", iothub_send_status_name(status));
        fflush(stdout);
        pthread_mutex_unlock(&print_lock);
    }
    /* Unlike the Python program (which exits at once), wait for the outstanding
     * confirmations, at most the message timeout plus a margin. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += MESSAGE_TIMEOUT / 1000 + 5;
    pthread_mutex_lock(&print_lock);
    while (send_callbacks < accepted &&
           pthread_cond_timedwait(&confirmed_cond, &print_lock, &deadline) == 0) {
    }
    pthread_mutex_unlock(&print_lock);
    goto out;

fail:
    printf("Unexpected error %s (%s) from IoTHub\n", iothub_err_name(rc), iothub_strerror(rc));
out:
    iothub_device_client_destroy(client); /* BECAUSE_DESTROY for anything still pending */
    for (int i = 0; sent && i < msg_count; i++)
        iothub_message_destroy(sent[i].message);
    free(sent);
    return rc;
}

int main(void)
{
    const char *cs = getenv("DEVICE_CS");
    if (!cs)
        cs = "[IoTHub Device Connection String]";
    int msg_count = getenv("MSG_COUNT") ? atoi(getenv("MSG_COUNT")) : 3;
    double sleep_sec = getenv("SLEEP_S") ? atof(getenv("SLEEP_S")) : 1.0;
    srand((unsigned)time(NULL));
    printf("Simulating a device using the Azure IoT Hub Device SDK for C (libiothub)\n");
    printf("    Protocol %s\n", iothub_transport_name(IOTHUB_TRANSPORT_MQTT));
    printf("    Connection string=");
    sample_print_masked(stdout, cs);
    printf("\n");
    fflush(stdout);
    int rc = iothub_client_telemetry_sample_run(cs, msg_count, sleep_sec);
    iothub_global_deinit();
    return rc == 0 ? 0 : 1;
}
