#include "connstr.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "device.h"
#include "sas.h"
#include "strbuf.h"

/* The keys we store. Error messages only ever print these fixed names, never input text:
 * a mistyped key name or a segment without '=' may well be a pasted secret. */
static const struct {
    const char *name;
    size_t offset;
} fields[] = {
    {"HostName", offsetof(struct connstr, host_name)},
    {"SharedAccessKeyName", offsetof(struct connstr, shared_access_key_name)},
    {"SharedAccessKey", offsetof(struct connstr, shared_access_key)},
    {"SharedAccessSignature", offsetof(struct connstr, shared_access_signature)},
    {"DeviceId", offsetof(struct connstr, device_id)},
    {"ModuleId", offsetof(struct connstr, module_id)},
    {"GatewayHostName", offsetof(struct connstr, gateway_host_name)},
    {"Endpoint", offsetof(struct connstr, endpoint)},
    {"EntityPath", offsetof(struct connstr, entity_path)},
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))
#define X509_INDEX  FIELD_COUNT /* "x509" is kept as a bool, after the string fields */

static void vfail(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err && errlen > 0)
        vsnprintf(err, errlen, fmt, ap);
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Index into fields[] (or X509_INDEX) of the key, -1 for an unknown key. */
static int find_key(const char *key, size_t len)
{
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (strlen(fields[i].name) == len && memcmp(fields[i].name, key, len) == 0)
            return (int)i;
    if (len == 4 && memcmp(key, "x509", 4) == 0)
        return (int)X509_INDEX;
    return -1;
}

static int store_x509(const char *value, size_t len, struct connstr *out, char *err, size_t errlen)
{
    if (len == 4 && strncasecmp(value, "true", 4) == 0)
        out->x509 = true;
    else if (len == 5 && strncasecmp(value, "false", 5) == 0)
        out->x509 = false;
    else
        return fail(err, errlen, "x509 must be true or false");
    return 0;
}

/* Handles one "Key=Value" segment of length len (not NUL-terminated). */
static int parse_segment(const char *seg, size_t len, struct connstr *out, uint32_t *seen,
                         char *err, size_t errlen)
{
    const char *eq = memchr(seg, '=', len);
    if (!eq)
        return fail(err, errlen, "connection string has a segment without '=' (want Key=Value)");
    size_t key_len = (size_t)(eq - seg), value_len = len - key_len - 1;
    if (key_len == 0)
        return fail(err, errlen, "connection string has a segment with an empty key");
    int idx = find_key(seg, key_len);
    if (idx < 0) {
        if (value_len >= CONNSTR_VALUE_MAX)
            return fail(err, errlen, "connection string: the value of an unknown key is too long");
        return 0; /* unknown keys are ignored */
    }
    const char *name = idx == (int)X509_INDEX ? "x509" : fields[idx].name;
    if (*seen & (1u << idx))
        return fail(err, errlen, "connection string repeats %s", name);
    *seen |= 1u << idx;
    if (value_len >= CONNSTR_VALUE_MAX)
        return fail(err, errlen, "connection string: the value of %s is too long", name);
    if (idx == (int)X509_INDEX)
        return store_x509(eq + 1, value_len, out, err, errlen);
    str_copy_n((char *)out + fields[idx].offset, CONNSTR_VALUE_MAX, eq + 1, value_len);
    return 0;
}

int connstr_parse(const char *s, struct connstr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t len = strnlen(s, CONNSTR_MAX + 1);
    if (len > CONNSTR_MAX)
        return fail(err, errlen, "connection string is too long");
    uint32_t seen = 0;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *seg_end = semi ? semi : end;
        /* Empty segments (a trailing ';', or ";;") carry nothing and are skipped. */
        if (seg_end > p && parse_segment(p, (size_t)(seg_end - p), out, &seen, err, errlen) != 0)
            return -1;
        p = seg_end + 1;
    }
    return 0;
}

static bool has(const char *value)
{
    return value[0] != '\0';
}

static bool key_is_base64(const char *key)
{
    uint8_t raw[CONNSTR_VALUE_MAX];
    return base64_decode(key, strlen(key), raw, sizeof(raw)) > 0;
}

__attribute__((format(printf, 3, 4))) static enum connstr_kind invalid(char *err, size_t errlen,
                                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, errlen, fmt, ap);
    va_end(ap);
    return CONNSTR_INVALID;
}

__attribute__((format(printf, 3, 4))) static bool reject(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

static enum connstr_kind eventhub_kind(const struct connstr *cs, char *err, size_t errlen)
{
    static const char missing[] = "Event Hubs connection string lacks %s";
    if (has(cs->host_name) || has(cs->device_id))
        return invalid(err, errlen, "%s cannot be combined with HostName or DeviceId", "Endpoint");
    if (strncasecmp(cs->endpoint, "sb://", 5) != 0 || cs->endpoint[5] == '\0')
        return invalid(err, errlen, "%s must be an sb URI with a host", "Endpoint");
    if (!has(cs->shared_access_key_name))
        return invalid(err, errlen, missing, "SharedAccessKeyName");
    if (!has(cs->shared_access_key))
        return invalid(err, errlen, missing, "SharedAccessKey");
    return CONNSTR_EVENTHUB;
}

/* The single credential of a device or module string (spec 1.1: Node rejects mixes). */
static bool device_credential_ok(const struct connstr *cs, char *err, size_t errlen)
{
    int creds = has(cs->shared_access_key) + has(cs->shared_access_signature) + cs->x509;
    if (creds != 1)
        return reject(err, errlen,
                      "device connection string needs exactly one of SharedAccessKey, "
                      "SharedAccessSignature or %s",
                      "x509=true");
    if (has(cs->shared_access_key_name) && !has(cs->shared_access_key))
        return reject(err, errlen, "%s requires SharedAccessKey", "SharedAccessKeyName");
    if (has(cs->shared_access_key) && !key_is_base64(cs->shared_access_key))
        return reject(err, errlen, "%s is not valid base64", "SharedAccessKey");
    if (has(cs->shared_access_signature)) {
        struct sas_token tok;
        const char *sas = cs->shared_access_signature;
        if (sas_parse(sas, strlen(sas), &tok) != SAS_OK)
            return reject(err, errlen, "%s is not a valid token", "SharedAccessSignature");
    }
    return true;
}

static enum connstr_kind device_kind(const struct connstr *cs, char *err, size_t errlen)
{
    if (!device_id_valid(cs->device_id))
        return invalid(err, errlen, "%s is not a valid device id", "DeviceId");
    if (has(cs->module_id) && !device_id_valid(cs->module_id))
        return invalid(err, errlen, "%s is not a valid module id", "ModuleId");
    if (!device_credential_ok(cs, err, errlen))
        return CONNSTR_INVALID;
    return has(cs->module_id) ? CONNSTR_MODULE : CONNSTR_DEVICE;
}

static enum connstr_kind hub_kind(const struct connstr *cs, char *err, size_t errlen)
{
    static const char missing[] = "hub connection string lacks %s";
    if (has(cs->module_id))
        return invalid(err, errlen, "%s requires DeviceId", "ModuleId");
    if (cs->x509)
        return invalid(err, errlen, "%s needs DeviceId", "x509");
    if (!has(cs->shared_access_key_name))
        return invalid(err, errlen, missing, "SharedAccessKeyName");
    if (!has(cs->shared_access_key))
        return invalid(err, errlen, missing, "SharedAccessKey");
    if (has(cs->shared_access_signature))
        return invalid(err, errlen, "%s cannot be combined with SharedAccessKey",
                       "SharedAccessSignature");
    if (!key_is_base64(cs->shared_access_key))
        return invalid(err, errlen, "%s is not valid base64", "SharedAccessKey");
    return CONNSTR_HUB;
}

enum connstr_kind connstr_kind(const struct connstr *cs, char *err, size_t errlen)
{
    if (has(cs->endpoint))
        return eventhub_kind(cs, err, errlen);
    if (!has(cs->host_name))
        return invalid(err, errlen, "connection string lacks %s", "HostName");
    if (has(cs->device_id))
        return device_kind(cs, err, errlen);
    return hub_kind(cs, err, errlen);
}
