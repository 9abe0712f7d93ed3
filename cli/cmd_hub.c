/* iothub hub: facts about the hub itself, computed from the login.
 *
 *   iothub hub connection-string [--eventhub] [--policy NAME] [--amqp-port N]
 *
 * The Event Hubs-compatible connection string (spec 1.1, 5.4) is built client-side:
 * Endpoint=sb://{host}/;SharedAccessKeyName={policy};SharedAccessKey={key};EntityPath={hub}
 * with {host} the login's HostName without any :port (that port is the HTTPS one) and {hub}
 * its first DNS label, as iothubd names its Event Hubs-compatible entity. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "common/strbuf.h"
#include "hub.h"
#include "output.h"

int eventhub_names(const char *host_name, char *host, size_t host_cap, char *entity,
                   size_t entity_cap)
{
    size_t len;
    if (host_name[0] == '[') {
        const char *close = strchr(host_name, ']');
        len = close ? (size_t)(close - host_name) + 1 : strlen(host_name);
    } else {
        len = strcspn(host_name, ":");
    }
    if (len == 0 || !str_copy_n(host, host_cap, host_name, len))
        return -1;
    size_t label = strcspn(host, ".:");
    if (label == 0 || !str_copy_n(entity, entity_cap, host, label))
        return -1;
    return 0;
}

int eventhub_connection_string(const char *host_name, const char *policy, const char *key,
                               long amqp_port, char **out)
{
    char host[CLI_HOST_MAX], entity[CLI_HOST_MAX], port[24] = "";
    *out = NULL;
    if (eventhub_names(host_name, host, sizeof(host), entity, sizeof(entity)) != 0)
        return -1;
    if (amqp_port > 0 && amqp_port != EVENTHUB_AMQPS_PORT)
        snprintf(port, sizeof(port), ":%ld", amqp_port);
    if (asprintf(out, "Endpoint=sb://%s%s/;SharedAccessKeyName=%s;SharedAccessKey=%s;EntityPath=%s",
                 host, port, policy, key, entity) < 0) {
        *out = NULL;
        return -1;
    }
    return 0;
}

static int hub_connection_string(struct cli *cli, int argc, char **argv)
{
    bool eventhub = false;
    const char *policy = NULL;
    long amqp_port = 0;
    const struct opt opts[] = {
        OPT_FLAG("eventhub", &eventhub, "print the Event Hubs-compatible connection string"),
        OPT_STRING("policy", "NAME", &policy,
                   "the shared access policy (default and only choice: the login's)"),
        OPT_LONG("amqp-port", "N", &amqp_port, 1, 65535,
                 "with --eventhub: the hub's AMQP port, when not 5671"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub hub connection-string",
        .args = "[options]",
        .description =
            "Print the hub connection string of the login, or with --eventhub the\n"
            "connection string of the hub's Event Hubs-compatible endpoint for Event Hubs\n"
            "clients (@azure/event-hubs, 'iothub monitor-events'):\n"
            "Endpoint=sb://<host>/;SharedAccessKeyName=<policy>;SharedAccessKey=<key>;\n"
            "EntityPath=<hub name>. Both are computed from the login; the policy needs\n"
            "ServiceConnect to read events. Keys of other policies are not served over the\n"
            "REST API: 'iothubd --print-connection-string NAME' prints them on the hub's\n"
            "machine. --json prints {\"connectionString\": ...}.",
        .examples = "  iothub hub connection-string --eventhub\n",
        .min_args = 0,
        .max_args = 0,
        .groups = groups,
    };
    char *cs = NULL;
    json_t *wrapped = NULL;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (amqp_port && !eventhub)
        return cli_opt_exit(opt_error(&cmd, "'--amqp-port' needs '--eventhub'"));
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (policy && strcasecmp(policy, hub_policy(hub)) != 0) {
        fprintf(stderr,
                "error: the login is policy '%s', and the key of policy '%s' is not available "
                "to the CLI: log in with that policy's connection string (iothubd "
                "--print-connection-string %s)\n",
                hub_policy(hub), policy, policy);
        return CLI_EXIT_USAGE;
    }
    int built = eventhub ? eventhub_connection_string(hub_host(hub), hub_policy(hub), hub_key(hub),
                                                      amqp_port, &cs)
                         : (asprintf(&cs, "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s",
                                     hub_host(hub), hub_policy(hub), hub_key(hub)) < 0
                                ? (cs = NULL, -1)
                                : 0);
    if (built != 0) {
        fprintf(stderr, "error: cannot derive the host and hub names from HostName '%s'\n",
                hub_host(hub));
        rc = CLI_EXIT_USAGE;
        goto out_free;
    }
    rc = CLI_EXIT_OK;
    if (cli->json) {
        wrapped = json_pack("{s:s}", "connectionString", cs);
        if (!wrapped || output_json(stdout, wrapped) != 0)
            rc = CLI_EXIT_ERROR;
    } else {
        printf("%s\n", cs);
    }

out_free:
    if (cs) {
        explicit_bzero(cs, strlen(cs)); /* it holds the key */
        free(cs);
    }
    json_decref(wrapped);
    return rc;
}

static const struct cli_command hub_commands[] = {
    {"connection-string", "print the hub's or its Event Hubs-compatible connection string",
     hub_connection_string},
    {NULL, NULL, NULL},
};

static void hub_help_commands(FILE *out)
{
    cli_commands_help(out, "Commands", hub_commands);
}

int cmd_hub(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub hub",
        .args = "<command> [options]",
        .description = "Facts about the hub of the login.",
        .min_args = 0,
        .max_args = -1,
        .flags = OPT_STOP_AT_NON_OPTION,
        .groups = groups,
        .help_extra = hub_help_commands,
    };
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (n == 0)
        return cli_opt_exit(opt_error(&cmd, "missing command"));
    return cli_dispatch(cli, hub_commands, &cmd, n, argv);
}
