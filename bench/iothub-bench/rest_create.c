/* Device creation over the service REST API: PUT /devices/{id} with a policy SAS token,
 * --create-concurrency requests in flight on keep-alive connections (curl multi). A device
 * that already exists (409) is read with GET instead, so reruns reuse the registry. */
#include "devices.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sas.h"

#define API  "api-version=2021-04-12"
#define BODY 4096

struct req {
    CURL *easy;
    size_t device;
    bool get; /* re-reading an existing device */
    char body[BODY];
    size_t len;
};

struct creator {
    const struct bench_opts *o;
    struct device_set *set;
    CURLM *multi;
    struct curl_slist *headers;
    size_t next, done;
    int failed;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct req *r = arg;
    size_t len = size * n;
    size_t room = BODY - 1 - r->len;
    memcpy(r->body + r->len, data, len < room ? len : room);
    r->len += len < room ? len : room;
    return len;
}

static void start(struct creator *cr, struct req *r, size_t device, bool get)
{
    const struct device *d = &cr->set->v[device];
    char url[512], json[256];
    snprintf(url, sizeof(url), "https://%s:%d/devices/%s?" API, cr->o->host, cr->o->rest_port,
             d->id);
    r->device = device;
    r->get = get;
    r->len = 0;
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    if (get) {
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
    } else {
        snprintf(json, sizeof(json), "{\"deviceId\":\"%s\"}", d->id);
        curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, json);
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, "PUT");
    }
    curl_multi_add_handle(cr->multi, r->easy);
}

/* The primary key from a device JSON body. */
static int take_key(struct req *r, struct device *d)
{
    json_error_t jerr;
    json_t *root = json_loadb(r->body, r->len, 0, &jerr);
    const char *key = json_string_value(json_object_get(
        json_object_get(json_object_get(root, "authentication"), "symmetricKey"), "primaryKey"));
    int rc = -1;
    if (key && strlen(key) < sizeof(d->key)) {
        strcpy(d->key, key);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

static void finished(struct creator *cr, struct req *r, CURLcode res)
{
    struct device *d = &cr->set->v[r->device];
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(cr->multi, r->easy);
    if (res != CURLE_OK) {
        fprintf(stderr, "iothub-bench: creating %s: %s\n", d->id, curl_easy_strerror(res));
        cr->failed = 1;
        return;
    }
    if (status == 409 && !r->get) {
        start(cr, r, r->device, true);
        return;
    }
    r->body[r->len] = '\0';
    if (status != 200 || take_key(r, d) != 0) {
        fprintf(stderr, "iothub-bench: %s %s: HTTP %ld %.200s\n", r->get ? "GET" : "PUT", d->id,
                status, r->body);
        cr->failed = 1;
        return;
    }
    cr->done++;
    if (cr->next < cr->set->n && !cr->failed)
        start(cr, r, cr->next++, false);
}

static int setup(struct creator *cr, struct req *reqs, size_t n, const char *token)
{
    char auth[SAS_TOKEN_MAX + 32];
    snprintf(auth, sizeof(auth), "Authorization: %s", token);
    cr->headers = curl_slist_append(NULL, auth);
    cr->headers = curl_slist_append(cr->headers, "Content-Type: application/json");
    cr->multi = curl_multi_init();
    if (!cr->headers || !cr->multi)
        return -1;
    for (size_t i = 0; i < n; i++) {
        CURL *e = reqs[i].easy = curl_easy_init();
        if (!e)
            return -1;
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, cr->headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &reqs[i]);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
        if (cr->o->cafile) {
            curl_easy_setopt(e, CURLOPT_CAINFO, cr->o->cafile);
        } else {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    return 0;
}

static void run(struct creator *cr, struct req *reqs, size_t n)
{
    for (size_t i = 0; i < n && cr->next < cr->set->n; i++)
        start(cr, &reqs[i], cr->next++, false);
    int running = 1;
    while (running && !cr->failed) {
        curl_multi_perform(cr->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(cr->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct req *r;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            finished(cr, r, m->data.result);
            running = 1; /* a new request may have been added */
        }
        if (running)
            curl_multi_poll(cr->multi, NULL, 0, 100, NULL);
    }
}

int devices_create(const struct bench_opts *o, struct device_set *set, const char *hub_host,
                   const char *policy, const char *policy_key)
{
    char token[SAS_TOKEN_MAX];
    if (sas_build(hub_host, policy_key, policy, (int64_t)time(NULL) + 24 * 3600, token,
                  sizeof(token)) < 0) {
        fprintf(stderr, "iothub-bench: cannot build a SAS token from --hub-cs\n");
        return -1;
    }
    size_t n = (size_t)o->create_concurrency;
    if (n > set->n)
        n = set->n;
    struct creator cr = {.o = o, .set = set};
    struct req *reqs = calloc(n, sizeof(*reqs));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = -1;
    if (reqs && setup(&cr, reqs, n, token) == 0) {
        for (size_t i = 0; i < n; i++)
            curl_easy_setopt(reqs[i].easy, CURLOPT_PRIVATE, &reqs[i]);
        run(&cr, reqs, n);
        rc = cr.failed || cr.done != set->n ? -1 : 0;
    }
    for (size_t i = 0; reqs && i < n; i++)
        if (reqs[i].easy) {
            curl_multi_remove_handle(cr.multi, reqs[i].easy);
            curl_easy_cleanup(reqs[i].easy);
        }
    if (cr.multi)
        curl_multi_cleanup(cr.multi);
    curl_slist_free_all(cr.headers);
    free(reqs);
    curl_global_cleanup();
    if (rc == 0)
        fprintf(stderr, "iothub-bench: %zu devices ready\n", set->n);
    return rc;
}
