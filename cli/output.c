#include "output.h"

#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"

#define OUTPUT_PATH_MAX 128

struct table {
    size_t ncols;
    size_t nrows; /* including the header row */
    size_t cap;   /* rows allocated */
    char **cells; /* nrows * ncols strings, row-major */
};

int output_json(FILE *out, const json_t *v)
{
    if (json_dumpf(v, out,
                   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY | CLI_JSON_REAL) != 0)
        return -1;
    return fputc('\n', out) == EOF ? -1 : 0;
}

/* Follows a dotted path through nested objects. */
static const json_t *json_path(const json_t *obj, const char *path)
{
    char key[OUTPUT_PATH_MAX];
    const char *p = path;
    while (obj) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len >= sizeof(key))
            return NULL;
        memcpy(key, p, len);
        key[len] = '\0';
        obj = json_object_get(obj, key);
        if (!dot)
            return obj;
        p = dot + 1;
    }
    return NULL;
}

const char *output_json_str(const json_t *obj, const char *path)
{
    const json_t *v = json_path(obj, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *output_json_text(const json_t *obj, const char *path, const char *dflt, char *buf,
                             size_t cap)
{
    const json_t *v = json_path(obj, path);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, cap, "%g", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return dflt;
}

const char *output_time(const char *iso)
{
    int64_t ms;
    if (!iso || iso[0] == '\0')
        return "never";
    if (isotime_parse(iso, &ms) == 0 && ms <= 0)
        return "never";
    return iso;
}

void output_kv_line(const struct output_kv *kv, const char *key, const char *value)
{
    int pad = kv->width - (int)strlen(key);
    fprintf(kv->out, "%s:%*s%s\n", key, pad > 1 ? pad : 1, "", value ? value : "-");
}

struct table *table_new(size_t ncols, const char *const *headers)
{
    struct table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ncols = ncols;
    if (table_add_row(t, headers) != 0) {
        table_free(t);
        return NULL;
    }
    return t;
}

int table_add_row(struct table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
        if (!grown)
            return -1;
        t->cells = grown;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i] ? cells[i] : "-");
        if (!row[i]) {
            while (i-- > 0)
                free(row[i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

void table_print(const struct table *t, FILE *out)
{
    size_t *width = calloc(t->ncols, sizeof(*width));
    if (!width)
        return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > width[c])
                width[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            if (c + 1 == t->ncols)
                fprintf(out, "%s\n", cell);
            else
                fprintf(out, "%-*s  ", (int)width[c], cell);
        }
    }
    free(width);
}

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
