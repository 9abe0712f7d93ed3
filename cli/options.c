#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define HELP_COLUMN_MAX 32 /* options wider than this put their help on the next line */

int opt_error(const struct opt_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s %s\nTry '%s --help' for more information.\n", cmd->name,
            cmd->args ? cmd->args : "", cmd->name);
    return OPT_ERROR;
}

/* Finds the option called name (len bytes, not terminated) in the command's groups. */
static const struct opt *opt_find(const struct opt_cmd *cmd, const char *name, size_t len)
{
    for (const struct opt_group *g = cmd->groups; g && g->opts; g++)
        for (const struct opt *o = g->opts; o->type != OPT_TYPE_END; o++)
            if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
                return o;
    return NULL;
}

static int opt_store(const struct opt_cmd *cmd, const struct opt *o, const char *value)
{
    switch (o->type) {
    case OPT_TYPE_STRING:
        *o->value.str = value;
        return 0;
    case OPT_TYPE_CHOICE:
        for (const char *const *c = o->choices; *c; c++) {
            if (strcmp(*c, value) == 0) {
                *o->value.str = *c;
                return 0;
            }
        }
        return opt_error(cmd, "invalid value '%s' for '--%s' (expected %s)", value, o->name,
                         o->argh);
    case OPT_TYPE_LONG: {
        char *end = NULL;
        errno = 0;
        long n = strtol(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno == ERANGE)
            return opt_error(cmd, "'--%s' expects a number, not '%s'", o->name, value);
        if (n < o->min || n > o->max)
            return opt_error(cmd, "'--%s' must be between %ld and %ld", o->name, o->min, o->max);
        *o->value.num = n;
        return 0;
    }
    case OPT_TYPE_FLAG:
    case OPT_TYPE_END:
        break;
    }
    return opt_error(cmd, "internal error: option '--%s' has no value type", o->name);
}

/* Handles argv[*i], a word starting with "--" (not "--" itself). May consume the next
 * word as the value. Returns 0, OPT_HELP or OPT_ERROR. */
static int opt_one(const struct opt_cmd *cmd, int argc, char **argv, int *i)
{
    const char *word = argv[*i] + 2;
    const char *eq = strchr(word, '=');
    size_t len = eq ? (size_t)(eq - word) : strlen(word);

    if (len == 4 && memcmp(word, "help", 4) == 0 && !eq) {
        opt_help(cmd, stdout);
        return OPT_HELP;
    }
    const struct opt *o = opt_find(cmd, word, len);
    if (!o)
        return opt_error(cmd, "unknown option '--%.*s'", (int)len, word);
    if (o->type == OPT_TYPE_FLAG) {
        if (eq)
            return opt_error(cmd, "option '--%s' takes no value", o->name);
        *o->value.flag = true;
        return 0;
    }
    const char *value;
    if (eq) {
        value = eq + 1;
    } else {
        if (*i + 1 >= argc)
            return opt_error(cmd, "option '--%s' requires a value", o->name);
        value = argv[++*i];
    }
    return opt_store(cmd, o, value);
}

int opt_parse(const struct opt_cmd *cmd, int argc, char **argv)
{
    int npos = 0;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-h") == 0) {
            opt_help(cmd, stdout);
            return OPT_HELP;
        }
        if (a[0] == '-' && a[1] == '-') {
            int rc = opt_one(cmd, argc, argv, &i);
            if (rc != 0)
                return rc;
            continue;
        }
        if (a[0] == '-' && a[1] != '\0')
            return opt_error(cmd, "unknown option '%s'", a);
        if (cmd->flags & OPT_STOP_AT_NON_OPTION)
            break;
        argv[npos++] = argv[i];
    }
    for (; i < argc; i++)
        argv[npos++] = argv[i];

    if (npos < cmd->min_args)
        return opt_error(cmd, "missing argument");
    if (cmd->max_args >= 0 && npos > cmd->max_args)
        return opt_error(cmd, "unexpected argument '%s'", argv[cmd->max_args]);
    return npos;
}

/* Writes "--name ARG" into buf; returns its length. */
static int opt_label(const struct opt *o, char *buf, size_t cap)
{
    if (o->argh)
        return snprintf(buf, cap, "--%s %s", o->name, o->argh);
    return snprintf(buf, cap, "--%s", o->name);
}

void opt_help(const struct opt_cmd *cmd, FILE *out)
{
    char label[128];
    int width = (int)strlen("-h, --help");
    for (const struct opt_group *g = cmd->groups; g && g->opts; g++) {
        for (const struct opt *o = g->opts; o->type != OPT_TYPE_END; o++) {
            int n = opt_label(o, label, sizeof(label));
            if (n > width && n <= HELP_COLUMN_MAX)
                width = n;
        }
    }

    fprintf(out, "usage: %s %s\n", cmd->name, cmd->args ? cmd->args : "");
    if (cmd->description)
        fprintf(out, "\n%s\n", cmd->description);
    for (const struct opt_group *g = cmd->groups; g && g->opts; g++) {
        if (g->opts[0].type == OPT_TYPE_END)
            continue;
        fprintf(out, "\n%s:\n", g->title);
        for (const struct opt *o = g->opts; o->type != OPT_TYPE_END; o++) {
            int n = opt_label(o, label, sizeof(label));
            if (n > width)
                fprintf(out, "  %s\n  %*s  %s\n", label, width, "", o->help);
            else
                fprintf(out, "  %-*s  %s\n", width, label, o->help);
        }
    }
    fprintf(out, "  %-*s  %s\n", width, "-h, --help", "show this help");
    if (cmd->help_extra)
        cmd->help_extra(out);
    if (cmd->examples)
        fprintf(out, "\nExamples:\n%s", cmd->examples);
}
