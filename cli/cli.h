/* Shared state and conventions of the iothub command-line tool.
 *
 * Layout: main.c parses the global options and dispatches through a command table
 * (struct cli_command); each command family lives in its own cmd_<family>.c and exposes
 * one entry point below. Commands describe their options declaratively (options.h), talk
 * to the hub through hub.h and print through output.h. */
#ifndef IOTHUB_CLI_CLI_H
#define IOTHUB_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "options.h"

/* Exit codes: documented in `iothub --help` (cli_exit_codes_help) and docs/cli.md. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,        /* any other hub error, or an internal error */
    CLI_EXIT_USAGE = 2,        /* bad options or arguments, bad connection string */
    CLI_EXIT_UNAUTHORIZED = 3, /* 401 */
    CLI_EXIT_NOT_FOUND = 4,    /* 404 */
    CLI_EXIT_CONFLICT = 5,     /* 409 and 412 */
    CLI_EXIT_UNREACHABLE = 6,  /* cannot connect, TLS failure, timeout */
    CLI_EXIT_BAD_REQUEST = 7,  /* 400 and 413 */
};

struct hub;

/* Process-wide state, owned by main(). */
struct cli {
    const char *login;             /* --login, else $IOTHUB_CONNECTION_STRING; borrowed */
    const char *cafile;            /* --cafile, else $IOTHUB_CA_FILE; borrowed */
    bool json;                     /* --json: machine output */
    const struct opt *global_opts; /* table of the options above, for every command */
    struct hub *hub;               /* opened on first use by cli_hub(); owned, closed by main() */
};

/* One entry of a command table. A table ends with an entry whose name is NULL. */
struct cli_command {
    const char *name;
    const char *summary;                                /* one line for the command list */
    int (*run)(struct cli *cli, int argc, char **argv); /* argv[0] is the command word */
};

/* The hub connection, opened on first use from cli->login and cli->cafile. Returns
 * CLI_EXIT_OK, or an exit code after printing the reason. */
int cli_hub(struct cli *cli, struct hub **out);

/* Runs the command named argv[0] from table; `parent` is the help for unknown names.
 * Returns the command's exit code. */
int cli_dispatch(struct cli *cli, const struct cli_command *table, const struct opt_cmd *parent,
                 int argc, char **argv);

/* Prints "<title>:" and one aligned line per command of table. */
void cli_commands_help(FILE *out, const char *title, const struct cli_command *table);

/* Prints the exit code table. */
void cli_exit_codes_help(FILE *out);

/* Maps an opt_parse() result below zero to the process exit code. */
int cli_opt_exit(int parse_result);

/* Command families. */
int cmd_device(struct cli *cli, int argc, char **argv);
int cmd_sas_token(struct cli *cli, int argc, char **argv);
int cmd_statistics(struct cli *cli, int argc, char **argv);
int cmd_consumer_group(struct cli *cli, int argc, char **argv);
int cmd_hub(struct cli *cli, int argc, char **argv);
int cmd_monitor_events(struct cli *cli, int argc, char **argv);
int cmd_c2d(struct cli *cli, int argc, char **argv);    /* cmd_c2d.c */
int cmd_method(struct cli *cli, int argc, char **argv); /* cmd_method.c */
int cmd_twin(struct cli *cli, int argc, char **argv);   /* cmd_twin.c */

/* The Event Hubs-compatible endpoint (cmd_hub.c). */
#define CLI_HOST_MAX        256
#define EVENTHUB_AMQPS_PORT 5671
/* host: HostName without any :port; entity: its first DNS label (the hub name, which
 * iothubd uses as the Event Hubs-compatible name). 0, or -1 when empty or too long. */
int eventhub_names(const char *host_name, char *host, size_t host_cap, char *entity,
                   size_t entity_cap);
/* Endpoint=sb://{host}[:port]/;SharedAccessKeyName=..;SharedAccessKey=..;EntityPath={entity}
 * into *out (malloc'ed; it holds the key: wipe before freeing). amqp_port <= 0 or 5671
 * adds no port. 0 or -1. */
int eventhub_connection_string(const char *host_name, const char *policy, const char *key,
                               long amqp_port, char **out);

#endif
