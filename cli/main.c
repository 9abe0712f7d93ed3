/* iothub: the command-line tool for an iothubd (or Azure IoT) hub.
 *
 *   iothub [global options] <command> [<subcommand>] [options] [args]
 *
 * main() owns the process state (struct cli), parses the global options, and dispatches
 * through the command table below; each family lives in cmd_<family>.c. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hub.h"

#ifndef IOTHUB_VERSION
#define IOTHUB_VERSION "0.0.0"
#endif

static int cmd_help(struct cli *cli, int argc, char **argv);

static const struct cli_command commands[] = {
    {"device", "manage device identities (create, show, list, update, delete, ...)", cmd_device},
    {"sas-token", "print a shared access signature token", cmd_sas_token},
    {"statistics", "show registry statistics", cmd_statistics},
    {"consumer-group", "manage consumer groups of the Event Hubs-compatible endpoint",
     cmd_consumer_group},
    {"hub", "print the hub's connection strings (--eventhub: Event Hubs-compatible)", cmd_hub},
    {"monitor-events", "watch device-to-cloud messages (AMQP, Event Hubs-compatible endpoint)",
     cmd_monitor_events},
    {"c2d", "send cloud-to-device messages and read their feedback", cmd_c2d},
    {"method", "invoke a direct method on a device", cmd_method},
    {"twin", "show or update a device twin", cmd_twin},
    {"help", "show help for a command", cmd_help},
    {NULL, NULL, NULL},
};

static const struct {
    int code;
    const char *meaning;
} exit_codes[] = {
    {CLI_EXIT_OK, "success"},
    {CLI_EXIT_ERROR, "other hub error, or an internal error"},
    {CLI_EXIT_USAGE, "usage error: bad options or arguments, bad connection string"},
    {CLI_EXIT_UNAUTHORIZED, "unauthorized (HTTP 401)"},
    {CLI_EXIT_NOT_FOUND, "not found (HTTP 404)"},
    {CLI_EXIT_CONFLICT, "conflict, failed precondition or full C2D queue (HTTP 409, 412; AMQP "
                        "resource-limit-exceeded)"},
    {CLI_EXIT_UNREACHABLE, "cannot reach the hub (connect, TLS or timeout error)"},
    {CLI_EXIT_BAD_REQUEST, "bad request or too large (HTTP 400, 413; AMQP message-size-exceeded, "
                           "argument-error)"},
};

void cli_commands_help(FILE *out, const char *title, const struct cli_command *table)
{
    int width = 0;
    for (const struct cli_command *c = table; c->name; c++)
        if ((int)strlen(c->name) > width)
            width = (int)strlen(c->name);
    fprintf(out, "\n%s:\n", title);
    for (const struct cli_command *c = table; c->name; c++)
        fprintf(out, "  %-*s  %s\n", width, c->name, c->summary);
}

void cli_exit_codes_help(FILE *out)
{
    fputs("\nExit codes:\n", out);
    for (size_t i = 0; i < sizeof(exit_codes) / sizeof(exit_codes[0]); i++)
        fprintf(out, "  %d  %s\n", exit_codes[i].code, exit_codes[i].meaning);
}

int cli_opt_exit(int parse_result)
{
    return parse_result == OPT_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

int cli_hub(struct cli *cli, struct hub **out)
{
    if (!cli->hub) {
        const char *cafile = cli->cafile && cli->cafile[0] ? cli->cafile : NULL;
        int rc = hub_open(cli->login, cafile, &cli->hub);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    *out = cli->hub;
    return CLI_EXIT_OK;
}

int cli_dispatch(struct cli *cli, const struct cli_command *table, const struct opt_cmd *parent,
                 int argc, char **argv)
{
    for (const struct cli_command *c = table; c->name; c++)
        if (strcmp(c->name, argv[0]) == 0)
            return c->run(cli, argc, argv);
    return cli_opt_exit(opt_error(parent, "unknown command '%s'", argv[0]));
}

static void top_help_extra(FILE *out)
{
    cli_commands_help(out, "Commands", commands);
    fputs("\nEnvironment:\n"
          "  IOTHUB_CONNECTION_STRING  hub connection string, when --login is not given\n"
          "  IOTHUB_CA_FILE            CA file, when --cafile is not given\n",
          out);
    cli_exit_codes_help(out);
    fputs("\nRun 'iothub <command> --help' for the options of a command.\n", out);
}

static void top_cmd_init(struct opt_cmd *cmd, const struct opt_group *groups)
{
    *cmd = (struct opt_cmd){
        .name = "iothub",
        .args = "[global options] <command> [<args>]",
        .description =
            "Manage an Azure IoT Hub compatible hub (iothubd) over its REST API.\n"
            "Log in with a hub connection string (HostName=...;SharedAccessKeyName=...;\n"
            "SharedAccessKey=...), for example iothubd's iothubowner string.",
        .examples = "  export IOTHUB_CONNECTION_STRING='HostName=localhost;"
                    "SharedAccessKeyName=iothubowner;SharedAccessKey=...'\n"
                    "  iothub device create sensor-1\n"
                    "  iothub device list\n"
                    "  iothub --json device show sensor-1\n",
        .min_args = 0,
        .max_args = -1,
        .flags = OPT_STOP_AT_NON_OPTION,
        .groups = groups,
        .help_extra = top_help_extra,
    };
}

/* iothub help [<command> [<subcommand>]]: the same as adding --help to the command. */
static int cmd_help(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub help",
        .args = "[<command> [<subcommand>]]",
        .description = "Show the help of a command (the same as '<command> --help').",
        .min_args = 0,
        .max_args = 2,
        .groups = groups,
    };
    struct opt_cmd top;
    char help_flag[] = "--help";
    char *args[4];

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    top_cmd_init(&top, groups);
    if (n == 0) {
        opt_help(&top, stdout);
        return CLI_EXIT_OK;
    }
    for (int i = 0; i < n; i++)
        args[i] = argv[i];
    args[n] = help_flag;
    args[n + 1] = NULL;
    return cli_dispatch(cli, commands, &top, n + 1, args);
}

/* Flushes stdout and reports a failed write (a full disk, say) once, here; a reader that went
 * away (`iothub device list | head -1`) is not worth a message. Call it before anything
 * else can overwrite errno. */
static int finish_output(int rc)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    if (errno != EPIPE)
        fprintf(stderr, "error: cannot write the output: %s\n", strerror(errno));
    return rc == CLI_EXIT_OK ? CLI_EXIT_ERROR : rc;
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .login = getenv("IOTHUB_CONNECTION_STRING"),
        .cafile = getenv("IOTHUB_CA_FILE"),
    };
    bool version = false;
    const struct opt global_opts[] = {
        OPT_STRING("login", "CONNSTR", &cli.login,
                   "hub connection string (default: $IOTHUB_CONNECTION_STRING)"),
        OPT_FLAG("json", &cli.json, "machine output: the hub's JSON, pretty-printed"),
        OPT_STRING("cafile", "FILE", &cli.cafile,
                   "PEM file of CAs to trust (default: $IOTHUB_CA_FILE, else system CAs)"),
        OPT_END(),
    };
    const struct opt top_opts[] = {
        OPT_FLAG("version", &version, "print the version"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Global options", global_opts}, {"Options", top_opts}, {NULL, NULL}};
    int rc;

    cli.global_opts = global_opts;
    /* A hub that closes the connection must give an error, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "error: cannot initialise libcurl\n");
        return CLI_EXIT_ERROR;
    }

    struct opt_cmd top;
    top_cmd_init(&top, groups);
    const struct opt_cmd *cmd = &top;
    int n = opt_parse(cmd, argc, argv);
    if (n < 0) {
        rc = cli_opt_exit(n);
    } else if (version) {
        printf("iothub %s\n", IOTHUB_VERSION);
        rc = CLI_EXIT_OK;
    } else if (n == 0) {
        rc = cli_opt_exit(opt_error(cmd, "missing command"));
    } else {
        rc = cli_dispatch(&cli, commands, cmd, n, argv);
    }

    rc = finish_output(rc);
    hub_close(cli.hub);
    curl_global_cleanup();
    return rc;
}
