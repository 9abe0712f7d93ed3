#include "hub/mqtt/username.h"

#include <stdlib.h>
#include <string.h>

#include "common/urlcode.h"

/* Where the parameters start: after the first '?', or (no '?') at the start of the first
 * '/'-separated segment holding '='. NULL when there are none. */
static const char *params_start(const char *u, size_t len)
{
    const char *q = memchr(u, '?', len);
    if (q)
        return q + 1;
    const char *eq = memchr(u, '=', len);
    if (!eq)
        return NULL;
    while (eq > u && eq[-1] != '/')
        eq--;
    return eq;
}

int mqtt_username_model_id(const char *username, size_t len, char **out)
{
    *out = NULL;
    const char *end = username + len;
    const char *p = params_start(username, len);
    static const char key[] = "model-id=";
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        size_t n = (size_t)(stop - p);
        if (n >= sizeof(key) - 1 && memcmp(p, key, sizeof(key) - 1) == 0) {
            const char *v = p + sizeof(key) - 1;
            size_t vlen = (size_t)(stop - v);
            if (vlen == 0)
                return 0;
            char *s = malloc(vlen + 1);
            if (!s)
                return -1;
            int dlen = url_decode(v, vlen, s, vlen + 1);
            if (dlen <= 0 || dlen > MQTT_MODEL_ID_MAX) {
                free(s);
                return dlen == 0 ? 0 : -1;
            }
            *out = s;
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}
