/* iothub consumer-group: the consumer groups of the hub's Event Hubs-compatible endpoint,
 * through iothubd's own REST extension (/eventhub/consumergroups; the hosted service manages
 * them through Azure Resource Manager instead). The hub validates names and answers
 * duplicates (409), unknown groups (404) and the undeletable $Default (400). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hub.h"
#include "output.h"

#define GROUP_PATH_MAX (sizeof("/eventhub/consumergroups/") + 3 * 256)

static int group_path(const struct opt_cmd *cmd, const char *name, char *out, size_t cap)
{
    if (name[0] == '\0')
        return opt_error(cmd, "the consumer group name is empty");
    if (strlen(name) > 256 || hub_path(out, cap, "/eventhub/consumergroups/", name, NULL) != 0)
        return opt_error(cmd, "the consumer group name is too long (at most 50 characters)");
    return 0;
}

static int group_create(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub consumer-group create",
        .args = "NAME [options]",
        .description = "Create a consumer group on the Event Hubs-compatible endpoint. Names are\n"
                       "1 to 50 letters, digits, '.', '_' or '-' and compare case-insensitively.\n"
                       "--json prints {\"name\": ...}.",
        .examples = "  iothub consumer-group create dashboards\n",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    char path[GROUP_PATH_MAX];
    json_t *made = NULL;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (group_path(&cmd, argv[0], path, sizeof(path)))
        return CLI_EXIT_USAGE;
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "PUT", path, NULL, NULL, &made);
    if (rc == CLI_EXIT_OK) {
        const char *name = output_json_str(made, "name");
        if (cli->json)
            rc = output_json(stdout, made) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
        else
            printf("created consumer group '%s'\n", name ? name : argv[0]);
    }
    json_decref(made);
    return rc;
}

static int group_list(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub consumer-group list",
        .args = "[options]",
        .description = "List the consumer groups, $Default first, one name a line (--json: the\n"
                       "hub's array of {\"name\": ...}).",
        .min_args = 0,
        .max_args = 0,
        .groups = groups,
    };
    json_t *list = NULL;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "GET", "/eventhub/consumergroups", NULL, NULL, &list);
    if (rc != CLI_EXIT_OK)
        goto out_free;
    if (!json_is_array(list)) {
        fprintf(stderr, "error: the hub's answer is not a list of consumer groups\n");
        rc = CLI_EXIT_ERROR;
        goto out_free;
    }
    if (cli->json) {
        rc = output_json(stdout, list) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
        goto out_free;
    }
    size_t i;
    const json_t *g;
    json_array_foreach(list, i, g)
    {
        const char *name = output_json_str(g, "name");
        if (name)
            printf("%s\n", name);
    }

out_free:
    json_decref(list);
    return rc;
}

static int group_delete(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub consumer-group delete",
        .args = "NAME [options]",
        .description = "Delete a consumer group ($Default cannot be deleted). Prints nothing\n"
                       "with --json.",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    char path[GROUP_PATH_MAX];

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (group_path(&cmd, argv[0], path, sizeof(path)))
        return CLI_EXIT_USAGE;
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "DELETE", path, NULL, NULL, NULL);
    if (rc == CLI_EXIT_OK && !cli->json)
        printf("deleted consumer group '%s'\n", argv[0]);
    return rc;
}

static const struct cli_command group_commands[] = {
    {"create", "create a consumer group", group_create},
    {"list", "list the consumer groups", group_list},
    {"delete", "delete a consumer group", group_delete},
    {NULL, NULL, NULL},
};

static void group_help_commands(FILE *out)
{
    cli_commands_help(out, "Commands", group_commands);
}

int cmd_consumer_group(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub consumer-group",
        .args = "<command> [options]",
        .description = "Manage the consumer groups of the hub's Event Hubs-compatible endpoint\n"
                       "(read with 'iothub monitor-events --consumer-group NAME' or any Event\n"
                       "Hubs client). $Default always exists.",
        .min_args = 0,
        .max_args = -1,
        .flags = OPT_STOP_AT_NON_OPTION,
        .groups = groups,
        .help_extra = group_help_commands,
    };
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (n == 0)
        return cli_opt_exit(opt_error(&cmd, "missing command"));
    return cli_dispatch(cli, group_commands, &cmd, n, argv);
}
