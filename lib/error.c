/* Error names and messages, version, process-wide initialisation. */
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <pthread.h>

#include "internal.h"

const char *iothub_strerror(int err)
{
    switch (err) {
    case IOTHUB_OK:
        return "success";
#define IOTHUB_STRERROR_GEN_(name, val, msg)                                                       \
    case IOTHUB_##name:                                                                            \
        return msg;
        IOTHUB_ERRNO_MAP(IOTHUB_STRERROR_GEN_)
#undef IOTHUB_STRERROR_GEN_
    default:
        return "unknown error";
    }
}

const char *iothub_err_name(int err)
{
    switch (err) {
    case IOTHUB_OK:
        return "OK";
#define IOTHUB_ERRNAME_GEN_(name, val, msg)                                                        \
    case IOTHUB_##name:                                                                            \
        return #name;
        IOTHUB_ERRNO_MAP(IOTHUB_ERRNAME_GEN_)
#undef IOTHUB_ERRNAME_GEN_
    default:
        return "UNKNOWN";
    }
}

const char *iothub_version_string(void)
{
    return "0.1.0";
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_result;
static bool curl_inited;

static void global_init_run(void)
{
    if (OPENSSL_init_ssl(0, NULL) != 1) {
        global_result = IOTHUB_ESYSTEM;
        return;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        global_result = IOTHUB_ESYSTEM;
        return;
    }
    curl_inited = true;
}

int iotlib_global_init_once(void)
{
    if (pthread_once(&global_once, global_init_run) != 0)
        return IOTHUB_ESYSTEM;
    return global_result;
}

int iothub_global_init(void)
{
    return iotlib_global_init_once();
}

void iothub_global_deinit(void)
{
    /* Only curl holds process-wide state worth releasing; OpenSSL 3 cleans up at exit. */
    if (curl_inited) {
        curl_global_cleanup();
        curl_inited = false;
    }
}
