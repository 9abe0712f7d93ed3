/* libFuzzer target: the model id of an MQTT user name (hub/mqtt/username.h), untrusted
 * input from every CONNECT.
 *
 * Besides "no crash, no sanitizer report" it checks that a model id found is non-empty, at
 * most MQTT_MODEL_ID_MAX bytes, holds no NUL, and that the user name contains "model-id=". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/mqtt/username.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    /* An exact-size heap copy, so that ASan sees any read past the end. */
    char *u = malloc(size ? size : 1);
    check(u != NULL);
    memcpy(u, data, size);
    char *model = NULL;
    int rc = mqtt_username_model_id(u, size, &model);
    check(rc >= -1 && rc <= 1);
    check((rc == 1) == (model != NULL));
    if (model) {
        size_t n = strlen(model);
        check(n > 0 && n <= MQTT_MODEL_ID_MAX);
        check(memmem(u, size, "model-id=", 9) != NULL);
        free(model);
    }
    free(u);
    return 0;
}
