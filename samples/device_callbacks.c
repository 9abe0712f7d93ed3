/* A device that receives cloud-to-device messages, answers direct methods and keeps its
 * twin, with the threaded device client. It prints one line per event (stdout, line
 * buffered), so that a script can follow it:
 *
 *   C2D message_id=<id> correlation_id=<id> ack=<iothub-ack> body=<text> properties=<k=v,...>
 *   METHOD name=<name> payload=<text>          answered 200 {"method":"<name>","echo":<payload>}
 *   TWIN COMPLETE <json> / TWIN PARTIAL <json>
 *   REPORTED status=<code>                     the hub's answer to REPORTED (sent after the
 *                                              first COMPLETE)
 *   STATUS <status> <reason>                   connection status changes
 *
 *   DEVICE_CS       HostName=...;DeviceId=...;SharedAccessKey=...
 *   IOTHUB_CA_FILE  PEM CA to trust (iothubd's tls/ca.pem); default: the system store
 *   REPORTED        reported properties to send (default {"sample":"device_callbacks"})
 *   C2D_DISPOSITION ACCEPTED (default), REJECTED or ABANDONED
 *   WAIT_S          seconds to run (default 60); SIGINT / SIGTERM end it earlier
 *   LOGTRACE        1: trace MQTT packets on stderr
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iothub/iothub.h>

#include "sample_util.h"

static volatile sig_atomic_t stop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static iothub_device_client_t *client;
static const char *reported;
static iothub_disposition_t disposition = IOTHUB_MESSAGE_ACCEPTED;
static int reported_sent;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_reported(int status_code, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    printf("REPORTED status=%d\n", status_code);
    pthread_mutex_unlock(&lock);
}

static iothub_disposition_t on_message(const iothub_message_t *msg, void *ctx)
{
    (void)ctx;
    const uint8_t *body;
    size_t len;
    iothub_message_get_body(msg, &body, &len);
    pthread_mutex_lock(&lock);
    const char *mid = iothub_message_get_message_id(msg);
    const char *cid = iothub_message_get_correlation_id(msg);
    const char *ack = iothub_message_get_ack(msg);
    printf("C2D message_id=%s correlation_id=%s ack=%s body=%.*s properties=", mid ? mid : "-",
           cid ? cid : "-", ack ? ack : "-", (int)len, (const char *)body);
    for (size_t i = 0; i < iothub_message_property_count(msg); i++) {
        const char *k, *v;
        iothub_message_property_at(msg, i, &k, &v);
        printf("%s%s=%s", i ? "," : "", k, v);
    }
    printf("\n");
    pthread_mutex_unlock(&lock);
    return disposition;
}

static int on_method(const char *name, const uint8_t *payload, size_t size, uint8_t **response,
                     size_t *response_size, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    printf("METHOD name=%s payload=%.*s\n", name, (int)size, (const char *)payload);
    pthread_mutex_unlock(&lock);
    /* The payload is JSON text (or empty): echo it back as a JSON value. */
    const char *fmt = "{\"method\":\"%s\",\"echo\":%.*s}";
    size_t cap = strlen(fmt) + strlen(name) + size + 8;
    char *text = malloc(cap);
    if (!text)
        return 500;
    int n = size ? snprintf(text, cap, fmt, name, (int)size, (const char *)payload)
                 : snprintf(text, cap, fmt, name, 4, "null");
    *response = (uint8_t *)text; /* the library frees it */
    *response_size = n > 0 ? (size_t)n : 0;
    return 200;
}

static void on_twin(iothub_twin_update_state_t state, const uint8_t *payload, size_t size,
                    void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    printf("TWIN %s %.*s\n", state == IOTHUB_TWIN_UPDATE_COMPLETE ? "COMPLETE" : "PARTIAL",
           (int)size, (const char *)payload);
    bool send = state == IOTHUB_TWIN_UPDATE_COMPLETE && !reported_sent;
    reported_sent = 1;
    pthread_mutex_unlock(&lock);
    if (send) {
        /* Allowed from a callback: the client is thread-safe and re-entrant. */
        int rc = iothub_device_client_send_reported_state(client, (const uint8_t *)reported,
                                                          strlen(reported), on_reported, NULL);
        if (rc)
            fprintf(stderr, "device_callbacks: send_reported_state: %s\n", iothub_strerror(rc));
    }
}

static void on_status(iothub_connection_status_t status, iothub_connection_status_reason_t why,
                      void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    printf("STATUS %s %s\n", iothub_connection_status_name(status),
           iothub_connection_status_reason_name(why));
    pthread_mutex_unlock(&lock);
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "device_callbacks: %s: %s (%s)\n", what, iothub_strerror(rc),
            iothub_err_name(rc));
    return 1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *cs = getenv("DEVICE_CS");
    if (!cs || !*cs) {
        fprintf(stderr, "device_callbacks: set DEVICE_CS to the device's connection string\n");
        return 2;
    }
    reported = getenv("REPORTED") ? getenv("REPORTED") : "{\"sample\":\"device_callbacks\"}";
    const char *d = getenv("C2D_DISPOSITION");
    if (d && strcmp(d, "REJECTED") == 0)
        disposition = IOTHUB_MESSAGE_REJECTED;
    else if (d && strcmp(d, "ABANDONED") == 0)
        disposition = IOTHUB_MESSAGE_ABANDONED;
    double wait_s = getenv("WAIT_S") ? atof(getenv("WAIT_S")) : 60;

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = iothub_device_client_create_from_connection_string(&client, cs, IOTHUB_TRANSPORT_MQTT);
    if (rc)
        return fail("create", rc);
    const char *ca_file = getenv("IOTHUB_CA_FILE");
    if (ca_file && *ca_file) {
        char *pem = sample_read_file(ca_file);
        if (!pem) {
            fprintf(stderr, "device_callbacks: cannot read IOTHUB_CA_FILE %s\n", ca_file);
            iothub_device_client_destroy(client);
            return 1;
        }
        rc = iothub_device_client_set_option_string(client, IOTHUB_OPTION_TRUSTED_CERT, pem);
        free(pem);
        if (rc) {
            iothub_device_client_destroy(client);
            return fail("TrustedCerts", rc);
        }
    }
    if (getenv("LOGTRACE") && atoi(getenv("LOGTRACE")))
        iothub_device_client_set_option_int(client, IOTHUB_OPTION_LOG_TRACE, 1);
    if ((rc = iothub_device_client_set_connection_status_callback(client, on_status, NULL)) ||
        (rc = iothub_device_client_set_message_callback(client, on_message, NULL)) ||
        (rc = iothub_device_client_set_device_method_callback(client, on_method, NULL)) ||
        (rc = iothub_device_client_set_device_twin_callback(client, on_twin, NULL))) {
        iothub_device_client_destroy(client);
        return fail("set callbacks", rc);
    }
    struct timespec tick = {0, 100 * 1000 * 1000};
    for (double t = 0; !stop && t < wait_s; t += 0.1)
        nanosleep(&tick, NULL);
    iothub_device_client_destroy(client);
    printf("DONE\n");
    return 0;
}
