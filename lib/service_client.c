/* Registry manager: the identity registry over HTTPS with libcurl (docs/rest-api.md). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "common/connstr.h"
#include "common/device.h"
#include "common/device_json.h"
#include "common/isotime.h"
#include "common/sas.h"
#include "common/strbuf.h"
#include "common/urlcode.h"
#include "internal.h"

#define API_VERSION  "2021-04-12"
#define MAX_RESPONSE (16 * 1024 * 1024)
#define TOKEN_LIFE_S 3600
#define USER_AGENT   "iothubd-libiothub/0.1"

struct iothub_registry_manager_s {
    pthread_mutex_t lock;
    char *host;
    char *policy;
    char *key;
    char *trusted_certs;
    long timeout_s;
    long port;
    bool logtrace;
    char last_error[128];
    int last_status;
};

struct buffer {
    char *data;
    size_t len;
    bool overflow;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buffer *b = ud;
    size_t n = size * nmemb;
    if (b->overflow || b->len + n > MAX_RESPONSE) {
        b->overflow = true;
        return 0;
    }
    char *nd = realloc(b->data, b->len + n + 1);
    if (!nd) {
        b->overflow = true;
        return 0;
    }
    memcpy(nd + b->len, ptr, n);
    b->len += n;
    nd[b->len] = '\0';
    b->data = nd;
    return n;
}

/* Captures the iothub-errorcode header. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    iothub_registry_manager_t *rm = ud;
    size_t n = size * nmemb;
    static const char name[] = "iothub-errorcode:";
    if (n > sizeof(name) - 1 && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
        const char *v = ptr + sizeof(name) - 1;
        size_t vl = n - (sizeof(name) - 1);
        while (vl > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof(rm->last_error))
            vl = sizeof(rm->last_error) - 1;
        memcpy(rm->last_error, v, vl);
        rm->last_error[vl] = '\0';
    }
    return n;
}

static int map_status(long status)
{
    switch (status) {
    case 400:
        return IOTHUB_EINVAL;
    case 401:
    case 403:
        return IOTHUB_EAUTH;
    case 404:
        return IOTHUB_ENOTFOUND;
    case 409:
        return IOTHUB_EEXIST;
    case 412:
        return IOTHUB_EPRECONDITION;
    case 413:
        return IOTHUB_ETOOBIG;
    case 429:
        return IOTHUB_ETHROTTLED;
    default:
        return IOTHUB_ESERVER;
    }
}

static int map_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_OUT_OF_MEMORY:
        return IOTHUB_ENOMEM;
    case CURLE_OPERATION_TIMEDOUT:
        return IOTHUB_ETIMEDOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        return IOTHUB_ETLS;
    default:
        return IOTHUB_ENETWORK;
    }
}

/* One request. path starts with '/'; body may be NULL; if_match may be NULL. On success
 * (2xx) the response body is in *resp (caller frees, may be NULL). Lock held. */
static int request(iothub_registry_manager_t *rm, const char *method, const char *path,
                   const char *body, const char *if_match, char **resp)
{
    int rc = IOTHUB_ENOMEM;
    rm->last_error[0] = '\0';
    rm->last_status = 0;
    if (resp)
        *resp = NULL;
    struct buffer buf = {0};
    struct curl_slist *headers = NULL;
    char *token = malloc(SAS_TOKEN_MAX);
    char *auth_header = malloc(SAS_TOKEN_MAX + 32);
    char url[1024], match[128];
    CURL *curl = curl_easy_init();
    if (!token || !auth_header || !curl)
        goto out;
    if (sas_build(rm->host, rm->key, rm->policy, (int64_t)time(NULL) + TOKEN_LIFE_S, token,
                  SAS_TOKEN_MAX) < 0) {
        rc = IOTHUB_EKEY;
        goto out;
    }
    snprintf(auth_header, SAS_TOKEN_MAX + 32, "Authorization: %s", token);
    int n = snprintf(url, sizeof(url), "https://%s:%ld%s%capi-version=" API_VERSION, rm->host,
                     rm->port, path, strchr(path, '?') ? '&' : '?');
    if (n < 0 || (size_t)n >= sizeof(url)) {
        rc = IOTHUB_EINVAL;
        goto out;
    }
    struct curl_slist *h;
#define ADD_HEADER(text)                                                                           \
    do {                                                                                           \
        h = curl_slist_append(headers, (text));                                                    \
        if (!h)                                                                                    \
            goto out;                                                                              \
        headers = h;                                                                               \
    } while (0)
    ADD_HEADER(auth_header);
    ADD_HEADER("Accept: application/json");
    if (body)
        ADD_HEADER("Content-Type: application/json; charset=utf-8");
    if (if_match) {
        snprintf(match, sizeof(match), "If-Match: %s", if_match);
        ADD_HEADER(match);
    }
#undef ADD_HEADER
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, rm->timeout_s);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, rm);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (rm->trusted_certs) {
        struct curl_blob blob = {
            .data = rm->trusted_certs, .len = strlen(rm->trusted_certs), .flags = CURL_BLOB_COPY};
        curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
    }
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rm->logtrace)
        iotlib_trace("%s %s -> %ld%s%s", method, path, status, cc ? " " : "",
                     cc ? curl_easy_strerror(cc) : "");
    if (cc != CURLE_OK) {
        rc = buf.overflow ? IOTHUB_ETOOBIG : map_curl(cc);
        goto out;
    }
    rm->last_status = (int)status;
    if (status < 200 || status > 299) {
        rc = map_status(status);
        goto out;
    }
    rm->last_error[0] = '\0';
    rm->last_status = 0;
    if (resp) {
        *resp = buf.data;
        buf.data = NULL;
    }
    rc = 0;
out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    if (token)
        OPENSSL_cleanse(token, SAS_TOKEN_MAX);
    if (auth_header)
        OPENSSL_cleanse(auth_header, SAS_TOKEN_MAX + 32);
    free(token);
    free(auth_header);
    free(buf.data);
    return rc;
}

static void copy_device(const struct device *d, iothub_device_t *out)
{
    memset(out, 0, sizeof(*out));
    str_copy(out->device_id, sizeof(out->device_id), d->device_id);
    str_copy(out->primary_key, sizeof(out->primary_key), d->primary_key);
    str_copy(out->secondary_key, sizeof(out->secondary_key), d->secondary_key);
    str_copy(out->primary_thumbprint, sizeof(out->primary_thumbprint), d->primary_thumbprint);
    str_copy(out->secondary_thumbprint, sizeof(out->secondary_thumbprint), d->secondary_thumbprint);
    str_copy(out->generation_id, sizeof(out->generation_id), d->generation_id);
    str_copy(out->etag, sizeof(out->etag), d->etag);
    out->connection_state = d->connected ? IOTHUB_DEVICE_CONNECTION_STATE_CONNECTED
                                         : IOTHUB_DEVICE_CONNECTION_STATE_DISCONNECTED;
    out->status = d->enabled ? IOTHUB_DEVICE_STATUS_ENABLED : IOTHUB_DEVICE_STATUS_DISABLED;
    if (d->has_status_reason)
        str_copy(out->status_reason, sizeof(out->status_reason), d->status_reason);
    isotime_format(d->connection_state_updated_ms, out->connection_state_updated_time,
                   sizeof(out->connection_state_updated_time));
    isotime_format(d->status_updated_ms, out->status_updated_time,
                   sizeof(out->status_updated_time));
    isotime_format(d->last_activity_ms, out->last_activity_time, sizeof(out->last_activity_time));
    out->cloud_to_device_message_count =
        d->c2d_message_count > 0 ? (uint64_t)d->c2d_message_count : 0;
    switch (d->auth_type) {
    case DEVICE_AUTH_SAS:
        out->auth_method = IOTHUB_AUTH_SHARED_PRIVATE_KEY;
        break;
    case DEVICE_AUTH_SELF_SIGNED:
        out->auth_method = IOTHUB_AUTH_X509_THUMBPRINT;
        break;
    case DEVICE_AUTH_CA:
        out->auth_method = IOTHUB_AUTH_X509_CERTIFICATE_AUTHORITY;
        break;
    default:
        out->auth_method = IOTHUB_AUTH_NONE;
        break;
    }
    out->is_managed = false;
    out->iot_edge = d->iot_edge;
}

/* Parses one device object into out. */
static int parse_device(const json_t *obj, iothub_device_t *out)
{
    struct device *d = malloc(sizeof(*d));
    if (!d)
        return IOTHUB_ENOMEM;
    int rc = device_from_json(obj, d) == 0 ? 0 : IOTHUB_EPROTOCOL;
    if (rc == 0)
        copy_device(d, out);
    OPENSSL_cleanse(d, sizeof(*d));
    free(d);
    return rc;
}

static int parse_device_text(const char *text, iothub_device_t *out)
{
    if (!text)
        return IOTHUB_EPROTOCOL;
    json_t *root = json_loads(text, 0, NULL);
    if (!root)
        return IOTHUB_EPROTOCOL;
    int rc = out ? parse_device(root, out) : 0;
    json_decref(root);
    return rc;
}

static int device_path(const char *device_id, char *out, size_t cap)
{
    if (!device_id || !device_id_valid(device_id))
        return IOTHUB_EINVAL;
    char enc[3 * IOTHUB_DEVICE_ID_SIZE];
    if (url_encode_component(device_id, strlen(device_id), enc, sizeof(enc)) < 0)
        return IOTHUB_EINVAL;
    int n = snprintf(out, cap, "/devices/%s", enc);
    return n < 0 || (size_t)n >= cap ? IOTHUB_EINVAL : 0;
}

static const char *auth_type_wire(iothub_auth_method_t m)
{
    switch (m) {
    case IOTHUB_AUTH_SHARED_PRIVATE_KEY:
        return "sas";
    case IOTHUB_AUTH_X509_THUMBPRINT:
        return "selfSigned";
    case IOTHUB_AUTH_X509_CERTIFICATE_AUTHORITY:
        return "certificateAuthority";
    case IOTHUB_AUTH_NONE:
        return "none";
    }
    return NULL;
}

/* The request body for create and update; NULL on failure. */
static char *device_body(const char *device_id, const char *primary, const char *secondary,
                         iothub_auth_method_t method, iothub_device_status_t status,
                         const char *status_reason, bool iot_edge)
{
    const char *type = auth_type_wire(method);
    if (!type)
        return NULL;
    json_t *auth = NULL;
    if (method == IOTHUB_AUTH_SHARED_PRIVATE_KEY)
        auth = json_pack("{s:s, s:{s:s, s:s}}", "type", type, "symmetricKey", "primaryKey",
                         primary ? primary : "", "secondaryKey", secondary ? secondary : "");
    else if (method == IOTHUB_AUTH_X509_THUMBPRINT)
        auth = json_pack("{s:s, s:{s:s?, s:s?}}", "type", type, "x509Thumbprint",
                         "primaryThumbprint", primary && primary[0] ? primary : NULL,
                         "secondaryThumbprint", secondary && secondary[0] ? secondary : NULL);
    else
        auth = json_pack("{s:s}", "type", type);
    if (!auth)
        return NULL;
    json_t *root = json_pack("{s:s, s:s, s:o, s:{s:b}}", "deviceId", device_id, "status",
                             status == IOTHUB_DEVICE_STATUS_DISABLED ? "disabled" : "enabled",
                             "authentication", auth, "capabilities", "iotEdge", iot_edge);
    if (!root)
        return NULL; /* json_pack's "o" steals auth even on failure */
    if (status_reason && status_reason[0] &&
        json_object_set_new(root, "statusReason", json_string(status_reason)) != 0) {
        json_decref(root);
        return NULL;
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static void free_body(char *body)
{
    if (body) {
        OPENSSL_cleanse(body, strlen(body)); /* holds keys */
        free(body);
    }
}

/* ---- public API ------------------------------------------------------------------------ */

int iothub_registry_manager_create(iothub_registry_manager_t **out, const char *connection_string)
{
    if (!out || !connection_string)
        return IOTHUB_EINVAL;
    int rc = iotlib_global_init_once();
    if (rc)
        return rc;
    rc = IOTHUB_ENOMEM;
    char err[128];
    struct connstr *c = malloc(sizeof(*c));
    iothub_registry_manager_t *rm = calloc(1, sizeof(*rm));
    if (!c || !rm)
        goto fail;
    rc = IOTHUB_ECONNSTR;
    if (strlen(connection_string) >= CONNSTR_MAX ||
        connstr_parse(connection_string, c, err, sizeof(err)) != 0)
        goto fail;
    if (c->shared_access_key[0] && !iotlib_key_is_base64(c->shared_access_key)) {
        rc = IOTHUB_EKEY;
        goto fail;
    }
    if (connstr_kind(c, err, sizeof(err)) != CONNSTR_HUB)
        goto fail;
    rc = IOTHUB_EKEY;
    char probe[SAS_TOKEN_MAX];
    if (sas_build(c->host_name, c->shared_access_key, c->shared_access_key_name, 1, probe,
                  sizeof(probe)) < 0)
        goto fail;
    rc = IOTHUB_ENOMEM;
    rm->host = strdup(c->host_name);
    rm->policy = strdup(c->shared_access_key_name);
    rm->key = strdup(c->shared_access_key);
    if (!rm->host || !rm->policy || !rm->key)
        goto fail;
    if (pthread_mutex_init(&rm->lock, NULL) != 0) {
        rc = IOTHUB_ESYSTEM;
        goto fail;
    }
    rm->timeout_s = 30;
    rm->port = 443;
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
    *out = rm;
    return 0;

fail:
    if (c) {
        OPENSSL_cleanse(c, sizeof(*c));
        free(c);
    }
    if (rm) {
        free(rm->host);
        free(rm->policy);
        if (rm->key) {
            OPENSSL_cleanse(rm->key, strlen(rm->key));
            free(rm->key);
        }
        free(rm);
    }
    return rc;
}

void iothub_registry_manager_destroy(iothub_registry_manager_t *rm)
{
    if (!rm)
        return;
    pthread_mutex_destroy(&rm->lock);
    free(rm->host);
    free(rm->policy);
    OPENSSL_cleanse(rm->key, strlen(rm->key));
    free(rm->key);
    free(rm->trusted_certs);
    free(rm);
}

int iothub_registry_manager_set_option_string(iothub_registry_manager_t *rm, const char *name,
                                              const char *value)
{
    if (!rm || !name || !value)
        return IOTHUB_EINVAL;
    if (strcmp(name, IOTHUB_OPTION_TRUSTED_CERT) == 0) {
        if (value[0] && !iotlib_pem_has_cert(value))
            return IOTHUB_ECERT;
        char *copy = NULL;
        if (value[0] && !(copy = strdup(value)))
            return IOTHUB_ENOMEM;
        pthread_mutex_lock(&rm->lock);
        free(rm->trusted_certs);
        rm->trusted_certs = copy;
        pthread_mutex_unlock(&rm->lock);
        return 0;
    }
    char *end;
    long long v = strtoll(value, &end, 10);
    if (!value[0] || *end)
        return strcmp(name, "timeout") == 0 || strcmp(name, "port") == 0 ||
                       strcmp(name, "logtrace") == 0
                   ? IOTHUB_EOPTVALUE
                   : IOTHUB_EOPTION;
    return iothub_registry_manager_set_option_int(rm, name, v);
}

int iothub_registry_manager_set_option_int(iothub_registry_manager_t *rm, const char *name,
                                           int64_t value)
{
    if (!rm || !name)
        return IOTHUB_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&rm->lock);
    if (strcmp(name, "timeout") == 0) {
        if (value < 1 || value > 3600)
            rc = IOTHUB_EOPTVALUE;
        else
            rm->timeout_s = (long)value;
    } else if (strcmp(name, "port") == 0) {
        if (value < 1 || value > 65535)
            rc = IOTHUB_EOPTVALUE;
        else
            rm->port = (long)value;
    } else if (strcmp(name, "logtrace") == 0) {
        rm->logtrace = value != 0;
    } else {
        rc = IOTHUB_EOPTION;
    }
    pthread_mutex_unlock(&rm->lock);
    return rc;
}

int iothub_registry_manager_create_device(iothub_registry_manager_t *rm,
                                          const iothub_device_create_t *req, iothub_device_t *out)
{
    if (!rm || !req)
        return IOTHUB_EINVAL;
    char path[512];
    int rc = device_path(req->device_id, path, sizeof(path));
    if (rc)
        return rc;
    char *body = device_body(req->device_id, req->primary_key, req->secondary_key, req->auth_method,
                             req->status, NULL, req->iot_edge);
    if (!body)
        return auth_type_wire(req->auth_method) ? IOTHUB_ENOMEM : IOTHUB_EINVAL;
    char *resp = NULL;
    pthread_mutex_lock(&rm->lock);
    rc = request(rm, "PUT", path, body, NULL, &resp);
    pthread_mutex_unlock(&rm->lock);
    free_body(body);
    if (rc == 0)
        rc = parse_device_text(resp, out);
    free_body(resp);
    return rc;
}

int iothub_registry_manager_get_device(iothub_registry_manager_t *rm, const char *device_id,
                                       iothub_device_t *out)
{
    if (!rm || !out)
        return IOTHUB_EINVAL;
    char path[512];
    int rc = device_path(device_id, path, sizeof(path));
    if (rc)
        return rc;
    char *resp = NULL;
    pthread_mutex_lock(&rm->lock);
    rc = request(rm, "GET", path, NULL, NULL, &resp);
    pthread_mutex_unlock(&rm->lock);
    if (rc == 0)
        rc = parse_device_text(resp, out);
    free_body(resp);
    return rc;
}

int iothub_registry_manager_update_device(iothub_registry_manager_t *rm, const iothub_device_t *dev,
                                          iothub_device_t *out)
{
    if (!rm || !dev)
        return IOTHUB_EINVAL;
    char path[512];
    int rc = device_path(dev->device_id, path, sizeof(path));
    if (rc)
        return rc;
    bool x509 = dev->auth_method == IOTHUB_AUTH_X509_THUMBPRINT;
    char *body = device_body(dev->device_id, x509 ? dev->primary_thumbprint : dev->primary_key,
                             x509 ? dev->secondary_thumbprint : dev->secondary_key,
                             dev->auth_method, dev->status, dev->status_reason, dev->iot_edge);
    if (!body)
        return auth_type_wire(dev->auth_method) ? IOTHUB_ENOMEM : IOTHUB_EINVAL;
    char match[sizeof(dev->etag) + 2];
    if (dev->etag[0])
        snprintf(match, sizeof(match), "\"%s\"", dev->etag);
    else
        strcpy(match, "*");
    char *resp = NULL;
    pthread_mutex_lock(&rm->lock);
    rc = request(rm, "PUT", path, body, match, &resp);
    pthread_mutex_unlock(&rm->lock);
    free_body(body);
    if (rc == 0 && out)
        rc = parse_device_text(resp, out);
    free_body(resp);
    return rc;
}

int iothub_registry_manager_delete_device(iothub_registry_manager_t *rm, const char *device_id)
{
    if (!rm)
        return IOTHUB_EINVAL;
    char path[512];
    int rc = device_path(device_id, path, sizeof(path));
    if (rc)
        return rc;
    pthread_mutex_lock(&rm->lock);
    rc = request(rm, "DELETE", path, NULL, "*", NULL);
    pthread_mutex_unlock(&rm->lock);
    return rc;
}

int iothub_registry_manager_list_devices(iothub_registry_manager_t *rm, size_t max,
                                         iothub_device_t **devices, size_t *count)
{
    if (!rm || !devices || !count)
        return IOTHUB_EINVAL;
    *devices = NULL;
    *count = 0;
    if (max == 0 || max > 1000)
        max = 1000;
    char path[64];
    snprintf(path, sizeof(path), "/devices?top=%zu", max);
    char *resp = NULL;
    pthread_mutex_lock(&rm->lock);
    int rc = request(rm, "GET", path, NULL, NULL, &resp);
    pthread_mutex_unlock(&rm->lock);
    if (rc)
        return rc;
    rc = IOTHUB_EPROTOCOL;
    json_t *root = resp ? json_loads(resp, 0, NULL) : NULL;
    if (!json_is_array(root))
        goto out;
    size_t n = json_array_size(root);
    iothub_device_t *list = NULL;
    if (n > 0) {
        list = calloc(n, sizeof(*list));
        if (!list) {
            rc = IOTHUB_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            if ((rc = parse_device(json_array_get(root, i), &list[i])) != 0) {
                iothub_device_list_free(list);
                goto out;
            }
        }
    }
    *devices = list;
    *count = n;
    rc = 0;
out:
    json_decref(root);
    free_body(resp);
    return rc;
}

void iothub_device_list_free(iothub_device_t *devices)
{
    free(devices);
}

static int read_u64(const json_t *obj, const char *name, uint64_t *out)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return IOTHUB_EPROTOCOL;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int iothub_registry_manager_get_statistics(iothub_registry_manager_t *rm,
                                           iothub_registry_statistics_t *out)
{
    if (!rm || !out)
        return IOTHUB_EINVAL;
    char *resp = NULL;
    pthread_mutex_lock(&rm->lock);
    int rc = request(rm, "GET", "/statistics/devices", NULL, NULL, &resp);
    pthread_mutex_unlock(&rm->lock);
    if (rc)
        return rc;
    json_t *root = resp ? json_loads(resp, 0, NULL) : NULL;
    rc = IOTHUB_EPROTOCOL;
    if (json_is_object(root) && read_u64(root, "totalDeviceCount", &out->total_device_count) == 0 &&
        read_u64(root, "enabledDeviceCount", &out->enabled_device_count) == 0 &&
        read_u64(root, "disabledDeviceCount", &out->disabled_device_count) == 0)
        rc = 0;
    json_decref(root);
    free(resp);
    return rc;
}

const char *iothub_registry_manager_last_error(iothub_registry_manager_t *rm, int *http_status)
{
    if (!rm) {
        if (http_status)
            *http_status = 0;
        return "";
    }
    if (http_status)
        *http_status = rm->last_status;
    return rm->last_error;
}
