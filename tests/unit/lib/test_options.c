/* libiothub device client options: names, value forms, validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"

/* A throw-away self-signed certificate and its key as PEM text (caller frees). */
static void make_pem(char **cert_pem, char **key_pem)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = X509_new();
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *data;
    long len = BIO_get_mem_data(b, &data);
    *cert_pem = strndup(data, (size_t)len);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    len = BIO_get_mem_data(b, &data);
    *key_pem = strndup(data, (size_t)len);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void test_defaults(void **state)
{
    (void)state;
    struct iotlib_options o;
    iotlib_options_init(&o);
    assert_int_equal(o.message_timeout_ms, 0);
    assert_int_equal(o.keepalive_s, 240);
    assert_false(o.logtrace);
    assert_int_equal(o.sas_lifetime_s, 3600);
    assert_null(o.trusted_certs);
    assert_int_equal(o.retry_policy, IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER);
    assert_int_equal(o.retry_timeout_s, 0);
    iotlib_options_free(&o);
}

static void test_numeric_options_in_every_form(void **state)
{
    (void)state;
    iothub_device_client_ll_t *c = NULL;
    assert_int_equal(iothub_device_client_ll_create_with_key(
                         &c, "hub.example", "dev1",
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", IOTHUB_TRANSPORT_MQTT),
                     0);
    uint64_t timeout = 10000;
    int keepalive = 60;
    bool trace = false;
    size_t lifetime = 600;
    assert_int_equal(iothub_device_client_ll_set_option(c, "messageTimeout", &timeout), 0);
    assert_int_equal(iothub_device_client_ll_set_option(c, "keepalive", &keepalive), 0);
    assert_int_equal(iothub_device_client_ll_set_option(c, "logtrace", &trace), 0);
    assert_int_equal(iothub_device_client_ll_set_option(c, "sas_token_lifetime", &lifetime), 0);
    assert_int_equal(iothub_device_client_ll_set_option_int(c, "messageTimeout", 5000), 0);
    assert_int_equal(iothub_device_client_ll_set_option_int(c, "logtrace", 0), 0);
    assert_int_equal(iothub_device_client_ll_set_option_string(c, "keepalive", "30"), 0);
    assert_int_equal(iothub_device_client_ll_set_option_string(c, "logtrace", "false"), 0);
    assert_int_equal(iothub_device_client_ll_set_option_int(c, "retry_timeout", 120), 0);
    iothub_retry_policy_t p;
    size_t limit;
    assert_int_equal(iothub_device_client_ll_get_retry_policy(c, &p, &limit), 0);
    assert_int_equal(limit, 120);

    /* Bad values and names. */
    assert_int_equal(iothub_device_client_ll_set_option_int(c, "messageTimeout", -1),
                     IOTHUB_EOPTVALUE);
    assert_int_equal(iothub_device_client_ll_set_option_int(c, "keepalive", 70000),
                     IOTHUB_EOPTVALUE);
    assert_int_equal(iothub_device_client_ll_set_option_int(c, "sas_token_lifetime", 5),
                     IOTHUB_EOPTVALUE);
    assert_int_equal(iothub_device_client_ll_set_option_string(c, "keepalive", "12x"),
                     IOTHUB_EOPTVALUE);
    assert_int_equal(iothub_device_client_ll_set_option(c, "keepalive", NULL), IOTHUB_EOPTVALUE);
    assert_int_equal(iothub_device_client_ll_set_option_int(c, "TrustedCerts", 1),
                     IOTHUB_EOPTVALUE);
    assert_int_equal(iothub_device_client_ll_set_option_int(c, "noSuchOption", 1), IOTHUB_EOPTION);
    assert_int_equal(iothub_device_client_ll_set_option_int(c, NULL, 1), IOTHUB_EINVAL);
    iothub_device_client_ll_destroy(c);
}

static void test_certificate_options(void **state)
{
    (void)state;
    char *cert, *key;
    make_pem(&cert, &key);
    struct iotlib_options o;
    iotlib_options_init(&o);
    struct iotlib_optval v = {.kind = IOTLIB_OPT_STRING, .s = cert};
    assert_int_equal(iotlib_options_set(&o, "TrustedCerts", &v), 0);
    assert_non_null(o.trusted_certs);
    assert_int_equal(iotlib_options_set(&o, "x509certificate", &v), 0);
    v.s = key;
    assert_int_equal(iotlib_options_set(&o, "x509privatekey", &v), 0);
    assert_int_equal(iotlib_options_set(&o, "x509certificate", &v), IOTHUB_ECERT);
    v.s = cert;
    assert_int_equal(iotlib_options_set(&o, "x509privatekey", &v), IOTHUB_ECERT);
    v.s = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    assert_int_equal(iotlib_options_set(&o, "TrustedCerts", &v), IOTHUB_ECERT);
    assert_non_null(o.trusted_certs); /* unchanged on error */
    v.s = "";
    assert_int_equal(iotlib_options_set(&o, "TrustedCerts", &v), 0);
    assert_null(o.trusted_certs);
    struct iotlib_optval p = {.kind = IOTLIB_OPT_PTR, .ptr = cert};
    assert_int_equal(iotlib_options_set(&o, "TrustedCerts", &p), 0);
    assert_string_equal(o.trusted_certs, cert);
    iotlib_options_free(&o);
    free(cert);
    free(key);
}

static void test_model_id_option(void **state)
{
    (void)state;
    struct iotlib_options o;
    iotlib_options_init(&o);
    assert_null(o.model_id);
    struct iotlib_optval v = {.kind = IOTLIB_OPT_STRING, .s = "dtmi:com:example:Thermostat;1"};
    assert_int_equal(iotlib_options_set(&o, IOTHUB_OPTION_MODEL_ID, &v), 0);
    assert_string_equal(o.model_id, "dtmi:com:example:Thermostat;1");
    struct iotlib_optval p = {.kind = IOTLIB_OPT_PTR, .ptr = "dtmi:com:example:Other;2"};
    assert_int_equal(iotlib_options_set(&o, IOTHUB_OPTION_MODEL_ID, &p), 0);
    assert_string_equal(o.model_id, "dtmi:com:example:Other;2");
    char *long_id = malloc(IOTLIB_MODEL_ID_MAX + 2);
    assert_non_null(long_id);
    memset(long_id, 'a', IOTLIB_MODEL_ID_MAX + 1);
    long_id[IOTLIB_MODEL_ID_MAX + 1] = '\0';
    v.s = long_id;
    assert_int_equal(iotlib_options_set(&o, IOTHUB_OPTION_MODEL_ID, &v), IOTHUB_EOPTVALUE);
    assert_string_equal(o.model_id, "dtmi:com:example:Other;2"); /* unchanged on error */
    long_id[IOTLIB_MODEL_ID_MAX] = '\0';
    assert_int_equal(iotlib_options_set(&o, IOTHUB_OPTION_MODEL_ID, &v), 0);
    assert_int_equal(strlen(o.model_id), IOTLIB_MODEL_ID_MAX);
    v.s = "";
    assert_int_equal(iotlib_options_set(&o, IOTHUB_OPTION_MODEL_ID, &v), 0);
    assert_null(o.model_id);
    struct iotlib_optval n = {.kind = IOTLIB_OPT_INT, .i = 1};
    assert_int_equal(iotlib_options_set(&o, IOTHUB_OPTION_MODEL_ID, &n), IOTHUB_EOPTVALUE);
    iotlib_options_free(&o);
    free(long_id);
}

static void test_retry_policy_setter(void **state)
{
    (void)state;
    iothub_device_client_ll_t *c = NULL;
    assert_int_equal(iothub_device_client_ll_create_with_key(
                         &c, "hub.example", "dev1",
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", IOTHUB_TRANSPORT_MQTT),
                     0);
    iothub_retry_policy_t p;
    size_t limit;
    assert_int_equal(iothub_device_client_ll_get_retry_policy(c, &p, &limit), 0);
    assert_int_equal(p, IOTHUB_RETRY_EXPONENTIAL_BACKOFF_WITH_JITTER);
    assert_int_equal(limit, 0);
    assert_int_equal(iothub_device_client_ll_set_retry_policy(c, IOTHUB_RETRY_LINEAR_BACKOFF, 30),
                     0);
    assert_int_equal(iothub_device_client_ll_get_retry_policy(c, &p, &limit), 0);
    assert_int_equal(p, IOTHUB_RETRY_LINEAR_BACKOFF);
    assert_int_equal(limit, 30);
    assert_int_equal(iothub_device_client_ll_set_retry_policy(c, (iothub_retry_policy_t)99, 0),
                     IOTHUB_EINVAL);
    iothub_device_client_ll_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_numeric_options_in_every_form),
        cmocka_unit_test(test_certificate_options),
        cmocka_unit_test(test_model_id_option),
        cmocka_unit_test(test_retry_policy_setter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
