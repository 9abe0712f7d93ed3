/* What a create or update may store: input validation and the credential rules (generate
 * or keep empty keys, keep empty thumbprints, drop what the auth type does not use). */
#include <string.h>

#include "common/random.h"
#include "common/strbuf.h"
#include "internal.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

bool rs_device_input_valid(const struct device *dev)
{
    if (!TERMINATED(dev->device_id) || !TERMINATED(dev->status_reason) ||
        !TERMINATED(dev->primary_key) || !TERMINATED(dev->secondary_key) ||
        !TERMINATED(dev->primary_thumbprint) || !TERMINATED(dev->secondary_thumbprint) ||
        !TERMINATED(dev->device_scope))
        return false;
    if (!device_id_valid(dev->device_id))
        return false;
    switch (dev->auth_type) {
    case DEVICE_AUTH_SAS:
    case DEVICE_AUTH_SELF_SIGNED:
    case DEVICE_AUTH_CA:
    case DEVICE_AUTH_NONE:
        break;
    default:
        return false;
    }
    if ((dev->primary_key[0] && !device_key_valid(dev->primary_key)) ||
        (dev->secondary_key[0] && !device_key_valid(dev->secondary_key)))
        return false;
    if ((dev->primary_thumbprint[0] && !device_thumbprint_valid(dev->primary_thumbprint)) ||
        (dev->secondary_thumbprint[0] && !device_thumbprint_valid(dev->secondary_thumbprint)))
        return false;
    return true;
}

/* An empty key is taken from the current sas device, else generated. */
static int settle_key(char *key, size_t cap, const char *current)
{
    char fresh[45];
    if (key[0])
        return 0;
    if (current && current[0]) {
        str_copy(key, cap, current);
        return 0;
    }
    if (random_key_b64(fresh) != 0)
        return REG_STORAGE;
    str_copy(key, cap, fresh);
    return 0;
}

static void settle_thumbprint(char *tp, size_t cap, const char *current)
{
    if (!tp[0] && current)
        str_copy(tp, cap, current);
}

int rs_settle_credentials(struct device *next, const struct device *cur)
{
    bool same_type = cur && cur->auth_type == next->auth_type;
    switch (next->auth_type) {
    case DEVICE_AUTH_SAS:
        next->primary_thumbprint[0] = '\0';
        next->secondary_thumbprint[0] = '\0';
        if (settle_key(next->primary_key, sizeof(next->primary_key),
                       same_type ? cur->primary_key : NULL) != 0 ||
            settle_key(next->secondary_key, sizeof(next->secondary_key),
                       same_type ? cur->secondary_key : NULL) != 0)
            return REG_STORAGE;
        return 0;
    case DEVICE_AUTH_SELF_SIGNED:
        next->primary_key[0] = '\0';
        next->secondary_key[0] = '\0';
        if (same_type && !next->primary_thumbprint[0] && !next->secondary_thumbprint[0]) {
            settle_thumbprint(next->primary_thumbprint, sizeof(next->primary_thumbprint),
                              cur->primary_thumbprint);
            settle_thumbprint(next->secondary_thumbprint, sizeof(next->secondary_thumbprint),
                              cur->secondary_thumbprint);
        }
        if (!next->primary_thumbprint[0] && !next->secondary_thumbprint[0])
            return REG_INVALID;
        return 0;
    default:
        next->primary_key[0] = '\0';
        next->secondary_key[0] = '\0';
        next->primary_thumbprint[0] = '\0';
        next->secondary_thumbprint[0] = '\0';
        return 0;
    }
}

bool rs_credentials_differ(const struct device *a, const struct device *b)
{
    return a->auth_type != b->auth_type || strcmp(a->primary_key, b->primary_key) != 0 ||
           strcmp(a->secondary_key, b->secondary_key) != 0 ||
           strcmp(a->primary_thumbprint, b->primary_thumbprint) != 0 ||
           strcmp(a->secondary_thumbprint, b->secondary_thumbprint) != 0;
}

void rs_device_to_auth(const struct device *dev, struct device_auth *out)
{
    memset(out, 0, sizeof(*out));
    str_copy(out->device_id, sizeof(out->device_id), dev->device_id);
    str_copy(out->generation_id, sizeof(out->generation_id), dev->generation_id);
    out->enabled = dev->enabled;
    out->auth_type = dev->auth_type;
    str_copy(out->primary_key, sizeof(out->primary_key), dev->primary_key);
    str_copy(out->secondary_key, sizeof(out->secondary_key), dev->secondary_key);
    str_copy(out->primary_thumbprint, sizeof(out->primary_thumbprint), dev->primary_thumbprint);
    str_copy(out->secondary_thumbprint, sizeof(out->secondary_thumbprint),
             dev->secondary_thumbprint);
}
