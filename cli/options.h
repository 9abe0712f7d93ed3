/* A small declarative option parser for the iothub CLI, in the spirit of git's
 * parse-options: every command describes its options once, as a table, and the same table
 * drives parsing and the --help text.
 *
 * Only long options exist ("--name VALUE", "--name=VALUE", "--flag"), plus "-h" as an alias
 * of "--help". Options may appear before, between or after the positional arguments; "--"
 * ends option processing. A table is an array of struct opt ended by OPT_END().
 *
 * Ownership: string values are pointers into argv (never copied, never freed). */
#ifndef IOTHUB_CLI_OPTIONS_H
#define IOTHUB_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

enum opt_type {
    OPT_TYPE_END = 0,
    OPT_TYPE_FLAG,   /* --name: sets *value.flag = true */
    OPT_TYPE_STRING, /* --name VALUE: *value.str = VALUE */
    OPT_TYPE_CHOICE, /* --name VALUE, VALUE one of choices: *value.str = VALUE */
    OPT_TYPE_LONG,   /* --name N, decimal, min <= N <= max: *value.num = N */
};

struct opt {
    enum opt_type type;
    const char *name; /* long name without the leading "--" */
    const char *argh; /* placeholder shown in help ("ID", "N"); NULL for flags */
    const char *help; /* one line, lower-case, no full stop */
    union {
        bool *flag;
        const char **str;
        long *num;
    } value;
    long min, max;              /* OPT_TYPE_LONG range, inclusive */
    const char *const *choices; /* OPT_TYPE_CHOICE: NULL-terminated list */
};

#define OPT_FLAG(n, p, h)                                                                          \
    {                                                                                              \
        .type = OPT_TYPE_FLAG, .name = (n), .help = (h), .value = {.flag = (p) }                   \
    }
#define OPT_STRING(n, a, p, h)                                                                     \
    {                                                                                              \
        .type = OPT_TYPE_STRING, .name = (n), .argh = (a), .help = (h), .value = {.str = (p) }     \
    }
#define OPT_CHOICE(n, a, p, c, h)                                                                  \
    {                                                                                              \
        .type = OPT_TYPE_CHOICE, .name = (n), .argh = (a), .help = (h), .value = {.str = (p)},     \
        .choices = (c)                                                                             \
    }
#define OPT_LONG(n, a, p, lo, hi, h)                                                               \
    {                                                                                              \
        .type = OPT_TYPE_LONG, .name = (n), .argh = (a), .help = (h), .value = {.num = (p)},       \
        .min = (lo), .max = (hi)                                                                   \
    }
#define OPT_END()                                                                                  \
    {                                                                                              \
        .type = OPT_TYPE_END                                                                       \
    }

/* A titled table ("Options", "Global options"). An array of groups ends with {NULL, NULL}. */
struct opt_group {
    const char *title;
    const struct opt *opts;
};

enum opt_cmd_flags {
    /* Stop at the first positional argument and leave it and everything after it
     * untouched (for commands that dispatch to subcommands). */
    OPT_STOP_AT_NON_OPTION = 1 << 0,
};

/* Everything parsing and --help need to know about one command. */
struct opt_cmd {
    const char *name;        /* full command path, e.g. "iothub device create" */
    const char *args;        /* positional synopsis, e.g. "ID [options]" */
    const char *description; /* paragraph printed after the usage line (may hold '\n') */
    const char *examples;    /* optional, printed under "Examples:" */
    int min_args, max_args;  /* positional argument count; max_args < 0 means unlimited */
    unsigned flags;          /* enum opt_cmd_flags */
    const struct opt_group *groups;
    /* Optional: prints extra help sections (subcommand lists, exit codes) after options. */
    void (*help_extra)(FILE *out);
};

enum opt_result {
    OPT_HELP = -1,  /* --help was given; the help text is already on stdout */
    OPT_ERROR = -2, /* a usage error; the message is already on stderr */
};

/* Parses argv[1..argc) (argv[0] is the command word and is skipped). The positional
 * arguments that remain are moved to argv[0..n) and their count n is returned (with
 * OPT_STOP_AT_NON_OPTION: the first positional and everything after it). Returns
 * OPT_HELP or OPT_ERROR otherwise. */
int opt_parse(const struct opt_cmd *cmd, int argc, char **argv);

/* Prints the full help of cmd (usage, description, every option group, help_extra,
 * examples). */
void opt_help(const struct opt_cmd *cmd, FILE *out);

/* Reports a usage error for cmd on stderr in the house style
 *   error: <message>
 *   usage: <name> <args>
 *   Try '<name> --help' for more information.
 * and returns OPT_ERROR. */
int opt_error(const struct opt_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
