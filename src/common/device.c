#include "device.h"

#include <string.h>

#include "base64.h"

static const char *const auth_names[] = {
    [DEVICE_AUTH_SAS] = "sas",
    [DEVICE_AUTH_SELF_SIGNED] = "selfSigned",
    [DEVICE_AUTH_CA] = "certificateAuthority",
    [DEVICE_AUTH_NONE] = "none",
};

const char *device_auth_type_name(enum device_auth_type t)
{
    if ((unsigned)t >= sizeof(auth_names) / sizeof(auth_names[0]))
        return "none";
    return auth_names[t];
}

int device_auth_type_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(auth_names) / sizeof(auth_names[0]); i++)
        if (strcmp(s, auth_names[i]) == 0)
            return (int)i;
    return -1;
}

bool device_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > DEVICE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !strchr("-.+%_#*?!(),=@$'", c))
            return false;
    }
    return true;
}

bool device_key_valid(const char *key_b64)
{
    uint8_t raw[DEVICE_KEY_MAX];
    size_t n = strlen(key_b64);
    if (n > DEVICE_KEY_MAX)
        return false;
    int len = base64_decode(key_b64, n, raw, sizeof(raw));
    return len >= 16 && len <= 64;
}

bool device_thumbprint_valid(const char *tp)
{
    size_t n = strlen(tp);
    if (n != 40 && n != 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tp[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}
