/* libiothub device client without a hub: connection strings, transports, the confirmation
 * guarantee (exactly one callback per accepted message) when the hub is unreachable or the
 * client is destroyed, error names, registry manager connection strings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static void test_device_connection_strings(void **state)
{
    (void)state;
    struct iotlib_device_auth a;
    assert_int_equal(
        iotlib_device_auth_parse("HostName=hub.localhost;DeviceId=dev1;SharedAccessKey=" KEY, &a),
        0);
    assert_string_equal(a.host, "hub.localhost");
    assert_string_equal(a.device_id, "dev1");
    assert_string_equal(a.key, KEY);
    assert_null(a.token);
    assert_false(a.x509);
    iotlib_device_auth_free(&a);

    assert_int_equal(iotlib_device_auth_parse("DeviceId=d;HostName=h;SharedAccessSignature="
                                              "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=x&se=1",
                                              &a),
                     0);
    assert_null(a.key);
    assert_string_equal(a.token, "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=x&se=1");
    iotlib_device_auth_free(&a);

    assert_int_equal(iotlib_device_auth_parse("HostName=h;DeviceId=d;x509=true", &a), 0);
    assert_true(a.x509);
    iotlib_device_auth_free(&a);

    const char *bad[] = {
        "",
        "HostName=h;SharedAccessKey=" KEY,                         /* no DeviceId */
        "DeviceId=d;SharedAccessKey=" KEY,                         /* no HostName */
        "HostName=h;DeviceId=d",                                   /* no credential */
        "HostName=h;DeviceId=d;SharedAccessKey=" KEY ";x509=true", /* two credentials */
        "HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=" KEY,   /* modules: not yet */
        "HostName=h;DeviceId=d;SharedAccessKeyName=device;SharedAccessKey=" KEY,
        "HostName=h;DeviceId=d;GatewayHostName=g;SharedAccessKey=" KEY,
        "HostName=h;HostName=h;DeviceId=d;SharedAccessKey=" KEY, /* repeated key */
        "garbage",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(iotlib_device_auth_parse(bad[i], &a), IOTHUB_ECONNSTR);
    assert_int_equal(iotlib_device_auth_parse("HostName=h;DeviceId=d;SharedAccessKey=not*b64", &a),
                     IOTHUB_EKEY);
}

static void test_create_and_transports(void **state)
{
    (void)state;
    const char *cs = "HostName=hub.localhost;DeviceId=dev1;SharedAccessKey=" KEY;
    iothub_device_client_ll_t *ll = NULL;
    assert_int_equal(
        iothub_device_client_ll_create_from_connection_string(&ll, cs, IOTHUB_TRANSPORT_HTTP),
        IOTHUB_ETRANSPORT);
    assert_int_equal(
        iothub_device_client_ll_create_from_connection_string(&ll, cs, IOTHUB_TRANSPORT_AMQP),
        IOTHUB_ETRANSPORT);
    assert_null(ll);
    assert_int_equal(
        iothub_device_client_ll_create_from_connection_string(&ll, cs, (iothub_transport_t)77),
        IOTHUB_EINVAL);
    assert_int_equal(
        iothub_device_client_ll_create_from_connection_string(&ll, "x=y", IOTHUB_TRANSPORT_MQTT),
        IOTHUB_ECONNSTR);
    assert_int_equal(
        iothub_device_client_ll_create_from_connection_string(&ll, cs, IOTHUB_TRANSPORT_MQTT), 0);
    iothub_send_status_t st;
    assert_int_equal(iothub_device_client_ll_get_send_status(ll, &st), 0);
    assert_int_equal(st, IOTHUB_SEND_STATUS_IDLE);
    /* Cloud-to-device features (more in test_device_topics.c). */
    assert_int_equal(iothub_device_client_ll_set_message_callback(ll, NULL, NULL), 0);
    assert_int_equal(iothub_device_client_ll_set_device_method_callback(ll, NULL, NULL), 0);
    assert_int_equal(iothub_device_client_ll_set_device_twin_callback(ll, NULL, NULL), 0);
    assert_int_equal(
        iothub_device_client_ll_send_reported_state(ll, (const uint8_t *)"{}", 2, NULL, NULL), 0);
    iothub_device_client_ll_destroy(ll);
    iothub_device_client_ll_destroy(NULL);

    assert_int_equal(
        iothub_device_client_ll_create_with_key(&ll, "h", "d", "***", IOTHUB_TRANSPORT_MQTT),
        IOTHUB_EKEY);
    assert_int_equal(
        iothub_device_client_ll_create_with_key(&ll, "", "d", KEY, IOTHUB_TRANSPORT_MQTT),
        IOTHUB_EINVAL);
}

struct counts {
    int calls;
    iothub_confirmation_result_t last;
};

static void on_confirm(iothub_confirmation_result_t result, void *ctx)
{
    struct counts *c = ctx;
    c->calls++;
    c->last = result;
}

static iothub_message_t *message(void)
{
    iothub_message_t *m = NULL;
    assert_int_equal(iothub_message_create_from_string(&m, "{}"), 0);
    assert_int_equal(iothub_message_set_message_id(m, "m"), 0);
    return m;
}

static void test_destroy_confirms_pending(void **state)
{
    (void)state;
    iothub_device_client_ll_t *ll = NULL;
    assert_int_equal(iothub_device_client_ll_create_with_key(&ll, "127.0.0.1", "dev1", KEY,
                                                             IOTHUB_TRANSPORT_MQTT),
                     0);
    struct counts a = {0}, b = {0};
    iothub_message_t *m = message();
    assert_int_equal(iothub_device_client_ll_send_event_async(ll, m, on_confirm, &a), 0);
    assert_int_equal(iothub_device_client_ll_send_event_async(ll, m, on_confirm, &b), 0);
    iothub_message_destroy(m); /* the client has its own copies */
    assert_int_equal(iothub_device_client_ll_send_event_async(ll, NULL, on_confirm, &b),
                     IOTHUB_EINVAL);
    iothub_send_status_t st;
    assert_int_equal(iothub_device_client_ll_get_send_status(ll, &st), 0);
    assert_int_equal(st, IOTHUB_SEND_STATUS_BUSY);
    iothub_device_client_ll_destroy(ll);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.last, IOTHUB_CONFIRMATION_BECAUSE_DESTROY);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.last, IOTHUB_CONFIRMATION_BECAUSE_DESTROY);
}

static void test_too_big_is_refused(void **state)
{
    (void)state;
    iothub_device_client_ll_t *ll = NULL;
    assert_int_equal(iothub_device_client_ll_create_with_key(&ll, "127.0.0.1", "dev1", KEY,
                                                             IOTHUB_TRANSPORT_MQTT),
                     0);
    static char body[IOTHUB_MESSAGE_MAX_SIZE];
    iothub_message_t *m = NULL;
    assert_int_equal(iothub_message_create_from_bytes(&m, body, sizeof(body)), 0);
    assert_int_equal(iothub_message_property_add(m, "k", "v"), 0);
    struct counts a = {0};
    assert_int_equal(iothub_device_client_ll_send_event_async(ll, m, on_confirm, &a),
                     IOTHUB_ETOOBIG);
    iothub_message_destroy(m);
    iothub_device_client_ll_destroy(ll);
    assert_int_equal(a.calls, 0); /* an error return means no callback */
}

/* Port 1 on loopback refuses at once: with retry policy NONE every pending message ends
 * with ERROR; with a message timeout and retries, with MESSAGE_TIMEOUT. */
static void run_until(iothub_device_client_ll_t *ll, const struct counts *c, int max_ms)
{
    for (int waited = 0; c->calls == 0 && waited < max_ms; waited += 10) {
        iothub_device_client_ll_do_work(ll);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void test_unreachable_hub_reports_error_or_timeout(void **state)
{
    (void)state;
    iothub_device_client_ll_t *ll = NULL;
    /* 127.0.0.1 port 8883: either nothing listens (refused) or something that is not
     * trusted (TLS fails: no CA configured for it). */
    assert_int_equal(iothub_device_client_ll_create_with_key(&ll, "127.0.0.1", "dev1", KEY,
                                                             IOTHUB_TRANSPORT_MQTT),
                     0);
    assert_int_equal(iothub_device_client_ll_set_option_string(ll, "TrustedCerts", NULL),
                     IOTHUB_EOPTVALUE);
    assert_int_equal(iothub_device_client_ll_set_retry_policy(ll, IOTHUB_RETRY_NONE, 0), 0);
    struct counts a = {0};
    iothub_message_t *m = message();
    assert_int_equal(iothub_device_client_ll_send_event_async(ll, m, on_confirm, &a), 0);
    run_until(ll, &a, 20000);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.last, IOTHUB_CONFIRMATION_ERROR);

    /* Retrying (immediately, forever) until the message times out. */
    assert_int_equal(iothub_device_client_ll_set_retry_policy(ll, IOTHUB_RETRY_INTERVAL, 0), 0);
    assert_int_equal(iothub_device_client_ll_set_option_int(ll, "messageTimeout", 300), 0);
    struct counts b = {0};
    assert_int_equal(iothub_device_client_ll_send_event_async(ll, m, on_confirm, &b), 0);
    int fd, timeout;
    bool want_write;
    assert_int_equal(iothub_device_client_ll_get_poll(ll, &fd, &want_write, &timeout), 0);
    assert_true(timeout >= 0 && timeout <= 300);
    run_until(ll, &b, 20000);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.last, IOTHUB_CONFIRMATION_MESSAGE_TIMEOUT);
    iothub_message_destroy(m);
    iothub_device_client_ll_destroy(ll);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
}

static void test_threaded_client_confirms_exactly_once(void **state)
{
    (void)state;
    iothub_device_client_t *c = NULL;
    assert_int_equal(
        iothub_device_client_create_from_connection_string(
            &c, "HostName=127.0.0.1;DeviceId=dev1;SharedAccessKey=" KEY, IOTHUB_TRANSPORT_HTTP),
        IOTHUB_ETRANSPORT);
    assert_int_equal(
        iothub_device_client_create_from_connection_string(
            &c, "HostName=127.0.0.1;DeviceId=dev1;SharedAccessKey=" KEY, IOTHUB_TRANSPORT_MQTT),
        0);
    assert_int_equal(iothub_device_client_set_retry_policy(c, IOTHUB_RETRY_INTERVAL, 0), 0);
    assert_int_equal(iothub_device_client_set_option_int(c, "messageTimeout", 60000), 0);
    struct counts a[8] = {0};
    iothub_message_t *m = message();
    for (int i = 0; i < 8; i++)
        assert_int_equal(iothub_device_client_send_event_async(c, m, on_confirm, &a[i]), 0);
    iothub_message_destroy(m);
    iothub_send_status_t st;
    assert_int_equal(iothub_device_client_get_send_status(c, &st), 0);
    assert_int_equal(st, IOTHUB_SEND_STATUS_BUSY);
    iothub_device_client_destroy(c);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(a[i].calls, 1);
        assert_int_equal(a[i].last, IOTHUB_CONFIRMATION_BECAUSE_DESTROY);
    }
    iothub_device_client_destroy(NULL);
}

static void test_error_table(void **state)
{
    (void)state;
    assert_string_equal(iothub_err_name(0), "OK");
    assert_string_equal(iothub_err_name(IOTHUB_EINVAL), "EINVAL");
    assert_string_equal(iothub_err_name(IOTHUB_ENOTSUP), "ENOTSUP");
    assert_string_equal(iothub_err_name(12345), "UNKNOWN");
    assert_string_equal(iothub_strerror(IOTHUB_ENOTSUP), "not supported by this hub version yet");
    assert_string_equal(iothub_strerror(-9999), "unknown error");
    /* Every code has a distinct name and a message. */
#define CHECK_CODE(name, val, msg)                                                                 \
    assert_int_equal(IOTHUB_##name, val);                                                          \
    assert_string_equal(iothub_err_name(val), #name);                                              \
    assert_string_equal(iothub_strerror(val), msg);
    IOTHUB_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
    assert_string_equal(iothub_confirmation_result_name(IOTHUB_CONFIRMATION_MESSAGE_TIMEOUT),
                        "MESSAGE_TIMEOUT");
    assert_string_equal(iothub_send_status_name(IOTHUB_SEND_STATUS_BUSY), "BUSY");
    assert_string_equal(iothub_transport_name(IOTHUB_TRANSPORT_MQTT), "MQTT");
    assert_string_equal(iothub_disposition_name(IOTHUB_MESSAGE_ABANDONED), "ABANDONED");
    assert_string_equal(iothub_auth_method_name(IOTHUB_AUTH_SHARED_PRIVATE_KEY),
                        "SHARED_PRIVATE_KEY");
    assert_string_equal(iothub_version_string(), "0.1.0");
}

static void test_registry_manager_connection_strings(void **state)
{
    (void)state;
    iothub_registry_manager_t *rm = NULL;
    assert_int_equal(iothub_registry_manager_create(
                         &rm, "HostName=hub.localhost;SharedAccessKeyName=iothubowner;"
                              "SharedAccessKey=" KEY),
                     0);
    assert_int_equal(iothub_registry_manager_set_option_int(rm, "timeout", 5), 0);
    assert_int_equal(iothub_registry_manager_set_option_int(rm, "port", 0), IOTHUB_EOPTVALUE);
    assert_int_equal(iothub_registry_manager_set_option_string(rm, "port", "8443"), 0);
    assert_int_equal(iothub_registry_manager_set_option_string(rm, "nope", "1"), IOTHUB_EOPTION);
    assert_int_equal(iothub_registry_manager_set_option_string(rm, "TrustedCerts", "junk"),
                     IOTHUB_ECERT);
    iothub_device_t dev;
    assert_int_equal(iothub_registry_manager_get_device(rm, "bad/id", &dev), IOTHUB_EINVAL);
    int status = -1;
    assert_string_equal(iothub_registry_manager_last_error(rm, &status), "");
    assert_int_equal(status, 0);
    iothub_registry_manager_destroy(rm);
    assert_int_equal(
        iothub_registry_manager_create(&rm, "HostName=h;DeviceId=d;SharedAccessKey=" KEY),
        IOTHUB_ECONNSTR);
    assert_int_equal(
        iothub_registry_manager_create(&rm, "HostName=h;SharedAccessKeyName=p;SharedAccessKey=!!"),
        IOTHUB_EKEY);
    iothub_registry_manager_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_connection_strings),
        cmocka_unit_test(test_create_and_transports),
        cmocka_unit_test(test_destroy_confirms_pending),
        cmocka_unit_test(test_too_big_is_refused),
        cmocka_unit_test(test_unreachable_hub_reports_error_or_timeout),
        cmocka_unit_test(test_threaded_client_confirms_exactly_once),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_registry_manager_connection_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
