/* libFuzzer target: device identity JSON (spec 3.3). The input is fed to the REST request
 * parser (device_request_parse) and to the client-side reader (device_from_json).
 *
 * Besides "no crash, no sanitizer report" it checks properties that must hold for every
 * input: an error names a member and gives a reason without ';', a parsed request only
 * holds values the registry accepts, and what device_to_json writes reads back the same. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/device_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static bool empty_or(const char *s, bool (*valid)(const char *))
{
    return s[0] == '\0' || valid(s);
}

/* device_to_json, dump, parse back with device_from_json: the result must match. */
static void round_trip(const struct device *dev)
{
    json_t *obj = device_to_json(dev);
    check(obj != NULL);
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    check(text != NULL);
    json_t *again = json_loads(text, 0, NULL);
    free(text);
    check(again != NULL);
    struct device back;
    if (dev->device_id[0]) {
        check(device_from_json(again, &back) == 0);
        check(memcmp(&back, dev, sizeof(back)) == 0);
    }
    json_decref(again);
}

static void request(const uint8_t *data, size_t size)
{
    struct device_request req;
    char field[128], reason[256];
    /* Parse straight from the fuzzer's buffer: no terminating NUL to rely on. */
    int rc = device_request_parse((const char *)data, size, &req, field, sizeof(field), reason,
                                  sizeof(reason));
    if (rc != 0) {
        check(rc == -1 || rc == -2);
        check(field[0] != '\0' && reason[0] != '\0');
        check(strchr(reason, ';') == NULL);
        return;
    }
    const struct device *d = &req.dev;
    check(d->device_id[0] == '\0' || device_id_valid(d->device_id));
    check(strlen(d->status_reason) <= DEVICE_REASON_MAX);
    check(d->has_status_reason || d->status_reason[0] == '\0');
    check(empty_or(d->primary_key, device_key_valid));
    check(empty_or(d->secondary_key, device_key_valid));
    check(empty_or(d->primary_thumbprint, device_thumbprint_valid));
    check(empty_or(d->secondary_thumbprint, device_thumbprint_valid));
    check(d->auth_type >= DEVICE_AUTH_SAS && d->auth_type <= DEVICE_AUTH_NONE);
    check(d->generation_id[0] == '\0' && d->etag[0] == '\0' && !d->connected);
    round_trip(d);
}

static void response(const uint8_t *data, size_t size)
{
    json_t *obj = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!obj)
        return;
    struct device dev;
    if (device_from_json(obj, &dev) == 0) {
        json_t *out = device_to_json(&dev);
        check(out != NULL);
        json_decref(out);
    }
    json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request(data, size);
    response(data, size);
    return 0;
}
