/* Output of the iothub CLI: JSON for scripts (--json), aligned "key: value" lines and
 * tables for people. Everything goes to the stream passed in (stdout in practice). */
#ifndef IOTHUB_CLI_OUTPUT_H
#define IOTHUB_CLI_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Added to every json_dump of the CLI: jansson prints reals with 17 significant digits by
 * default, which turns a device's 12.34 into 12.339999999999998; 15 digits print every
 * decimal of up to 15 significant digits as it was written. */
#define CLI_JSON_REAL JSON_REAL_PRECISION(15)

/* Pretty-prints v (two-space indent, members in the hub's order) and a newline. Returns 0
 * or -1. */
int output_json(FILE *out, const json_t *v);

/* The string at a dotted path ("authentication.type") of obj, or NULL when a member is
 * missing or the value is not a string. */
const char *output_json_str(const json_t *obj, const char *path);

/* The value at a dotted path as display text: strings as they are, numbers and booleans
 * in decimal/true/false, null or missing as dflt. Returns buf or a string owned by obj. */
const char *output_json_text(const json_t *obj, const char *path, const char *dflt, char *buf,
                             size_t cap);

/* A timestamp for people: "never" for the hub's "never" values (0001-01-01..., 1970-01-01
 * 00:00:00), otherwise the text as the hub sent it. */
const char *output_time(const char *iso);

/* Key/value lines whose values line up. */
struct output_kv {
    FILE *out;
    int width; /* column of the values: length of the longest key + 2 */
};
void output_kv_line(const struct output_kv *kv, const char *key, const char *value);

/* A table with a header row and columns sized to their widest cell. Cells are copied. */
struct table;

/* headers: ncols strings. Returns NULL when out of memory. */
struct table *table_new(size_t ncols, const char *const *headers);
/* Appends a row of ncols strings (NULL prints as "-"). Returns 0 or -1 (out of memory). */
int table_add_row(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

#endif
