#include "hub/amqp/filter.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    enum amqp_filter_start start;
} annotations[] = {
    {"x-opt-offset", AMQP_START_OFFSET},
    {"x-opt-sequence-number", AMQP_START_SEQ},
    {"x-opt-enqueued-time", AMQP_START_TIME},
};

#define PREFIX "amqp.annotation."

static size_t skip_spaces(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

/* A decimal integer, optionally negative, that fits int64_t. */
static int parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == len)
        return -1;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int amqp_filter_parse(const char *expr, size_t len, struct amqp_filter *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > AMQP_FILTER_MAX) {
        snprintf(err, errlen, "the selector filter is longer than %d bytes", AMQP_FILTER_MAX);
        return -1;
    }
    size_t i = skip_spaces(expr, len, 0);
    size_t plen = strlen(PREFIX);
    if (len - i < plen || strncasecmp(expr + i, PREFIX, plen) != 0) {
        snprintf(err, errlen,
                 "the selector filter must start with amqp.annotation.x-opt-offset, "
                 "x-opt-sequence-number or x-opt-enqueued-time");
        return -1;
    }
    i += plen;
    size_t name_start = i;
    while (i < len && expr[i] != ' ' && expr[i] != '\t' && expr[i] != '>' && expr[i] != '=' &&
           expr[i] != '<')
        i++;
    size_t name_len = i - name_start;
    bool known = false;
    for (size_t k = 0; k < sizeof(annotations) / sizeof(annotations[0]); k++) {
        if (strlen(annotations[k].name) == name_len &&
            strncasecmp(annotations[k].name, expr + name_start, name_len) == 0) {
            out->start = annotations[k].start;
            known = true;
        }
    }
    if (!known) {
        snprintf(err, errlen,
                 "the selector filter compares an unsupported annotation '%.*s' (use "
                 "x-opt-offset, x-opt-sequence-number or x-opt-enqueued-time)",
                 (int)(name_len > 64 ? 64 : name_len), expr + name_start);
        return -1;
    }
    i = skip_spaces(expr, len, i);
    if (i < len && expr[i] == '>') {
        i++;
        if (i < len && expr[i] == '=') {
            out->inclusive = true;
            i++;
        }
    } else {
        snprintf(err, errlen, "the selector filter's operator must be > or >=");
        return -1;
    }
    i = skip_spaces(expr, len, i);
    /* The value: quoted as the SDKs send it; a bare value is accepted too. */
    size_t vstart, vlen;
    if (i < len && expr[i] == '\'') {
        vstart = ++i;
        while (i < len && expr[i] != '\'')
            i++;
        if (i == len) {
            snprintf(err, errlen, "the selector filter's value has no closing quote");
            return -1;
        }
        vlen = i - vstart;
        i++;
    } else {
        vstart = i;
        while (i < len && expr[i] != ' ' && expr[i] != '\t' && expr[i] != '\r' && expr[i] != '\n')
            i++;
        vlen = i - vstart;
    }
    if (skip_spaces(expr, len, i) != len) {
        snprintf(err, errlen, "the selector filter has text after its value");
        return -1;
    }
    const char *v = expr + vstart;
    if (out->start == AMQP_START_OFFSET && vlen == 7 && strncasecmp(v, "@latest", 7) == 0) {
        out->start = AMQP_START_LATEST;
        out->inclusive = false;
        return 0;
    }
    int64_t n;
    if (parse_int(v, vlen, &n) != 0) {
        snprintf(err, errlen, "the selector filter's value '%.*s' is not a decimal integer%s",
                 (int)(vlen > 32 ? 32 : vlen), v,
                 out->start == AMQP_START_OFFSET ? " or '@latest'" : "");
        return -1;
    }
    if (n == -1 && out->start != AMQP_START_TIME) {
        /* "> '-1'": from the start. ">= '-1'" means the same: nothing lies before 0. */
        out->start = AMQP_START_EARLIEST;
        out->inclusive = false;
        return 0;
    }
    if (n < 0) {
        snprintf(err, errlen, "the selector filter's value %lld is negative", (long long)n);
        return -1;
    }
    out->value = n;
    return 0;
}
