#include "hub/mqtt/method_topic.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#define REQUEST_PREFIX  "$iothub/methods/POST/"
#define RESPONSE_PREFIX "$iothub/methods/res/"
#define RID_KEY         "$rid="

bool method_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > METHOD_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x21 || ch > 0x7e || strchr("/?#+\"\\", ch))
            return false;
    }
    return true;
}

static bool rid_char(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           ch == '-';
}

bool method_rid_valid(const char *rid, size_t len)
{
    if (len == 0 || len > METHOD_RID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!rid_char((unsigned char)rid[i]))
            return false;
    return true;
}

size_t method_topic_request(char *out, size_t cap, const char *name, size_t name_len,
                            const char *rid, size_t rid_len)
{
    static const char prefix[] = REQUEST_PREFIX, mid[] = "/?" RID_KEY;
    if (!method_name_valid(name, name_len) || !method_rid_valid(rid, rid_len))
        return 0;
    size_t total = (sizeof(prefix) - 1) + name_len + (sizeof(mid) - 1) + rid_len;
    if (total > cap)
        return 0;
    char *p = out;
    memcpy(p, prefix, sizeof(prefix) - 1);
    p += sizeof(prefix) - 1;
    memcpy(p, name, name_len);
    p += name_len;
    memcpy(p, mid, sizeof(mid) - 1);
    p += sizeof(mid) - 1;
    memcpy(p, rid, rid_len);
    return total;
}

/* "-"? digit{1,10} within int32; the whole of s[0..len). */
static bool parse_status(const char *s, size_t len, int *out)
{
    bool negative = len > 0 && s[0] == '-';
    size_t i = negative ? 1 : 0;
    if (len == i || len - i > 10)
        return false;
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (negative)
        v = -v;
    if (v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int)v;
    return true;
}

bool method_topic_parse_response(const char *topic, size_t len, struct method_response_topic *out)
{
    static const char prefix[] = RESPONSE_PREFIX;
    size_t plen = sizeof(prefix) - 1;
    if (len < plen || memcmp(topic, prefix, plen) != 0)
        return false;
    const char *status = topic + plen, *end = topic + len;
    const char *slash = memchr(status, '/', (size_t)(end - status));
    if (!slash || !parse_status(status, (size_t)(slash - status), &out->status))
        return false;
    /* "/?" then '&'-separated parameters, one of them "$rid=...". */
    if (end - slash < 2 || slash[1] != '?')
        return false;
    const char *param = slash + 2;
    bool found = false;
    while (param <= end) {
        const char *amp = memchr(param, '&', (size_t)(end - param));
        const char *stop = amp ? amp : end;
        size_t plen2 = (size_t)(stop - param), klen = sizeof(RID_KEY) - 1;
        if (plen2 >= klen && memcmp(param, RID_KEY, klen) == 0) {
            if (found)
                return false; /* two $rid: ambiguous */
            found = true;
            out->rid = param + klen;
            out->rid_len = plen2 - klen;
        }
        if (!amp)
            break;
        param = amp + 1;
    }
    return found && method_rid_valid(out->rid, out->rid_len);
}
