/* libFuzzer target: connection strings (connstr_parse, connstr_kind).
 *
 * Besides "no crash, no sanitizer report" it checks that error messages are terminated
 * and never repeat the value of SharedAccessKey (keys must not leak into logs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/connstr.h"
#include "common/sas.h"
#include "common/urlcode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

/* The value of the first "SharedAccessKey=" in s, when it looks like a secret: long and
 * with a character ('+' or '/') that no error message contains. */
static size_t secret_value(const char *s, const char **value)
{
    const char *p = strstr(s, "SharedAccessKey=");
    if (!p)
        return 0;
    p += strlen("SharedAccessKey=");
    size_t n = strcspn(p, ";");
    if (n < 16 || (!memchr(p, '+', n) && !memchr(p, '/', n)))
        return 0;
    *value = p;
    return n;
}

static void check_no_leak(const char *input, const char *err)
{
    const char *value;
    size_t n = secret_value(input, &value);
    if (n == 0)
        return;
    char needle[CONNSTR_MAX + 1];
    memcpy(needle, value, n);
    needle[n] = '\0';
    check(strstr(err, needle) == NULL);
}

/* What a client does next with the parsed values: decode ids, check a given token. */
static void exercise_values(const struct connstr *cs)
{
    char dec[CONNSTR_VALUE_MAX];
    url_decode(cs->device_id, strlen(cs->device_id), dec, sizeof(dec));
    const char *sas = cs->shared_access_signature;
    struct sas_token tok;
    if (sas_parse(sas, strlen(sas), &tok) == SAS_OK)
        sas_verify(&tok, cs->shared_access_key, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Bounded, NUL-terminated copy; one byte over CONNSTR_MAX exercises the length check. */
    static char s[CONNSTR_MAX + 2];
    size_t len = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    memcpy(s, data, len);
    s[len] = '\0';

    static struct connstr cs;
    char err[128];
    err[0] = '\0';
    if (connstr_parse(s, &cs, err, sizeof(err)) != 0) {
        check(strlen(err) > 0 && strlen(err) < sizeof(err));
        check_no_leak(s, err);
        return 0;
    }
    err[0] = '\0';
    enum connstr_kind kind = connstr_kind(&cs, err, sizeof(err));
    check(kind == CONNSTR_INVALID || kind == CONNSTR_HUB || kind == CONNSTR_DEVICE ||
          kind == CONNSTR_MODULE || kind == CONNSTR_EVENTHUB);
    if (kind == CONNSTR_INVALID) {
        check(strlen(err) > 0 && strlen(err) < sizeof(err));
        check_no_leak(s, err);
    }
    connstr_kind(&cs, NULL, 0);
    exercise_values(&cs);
    return 0;
}
