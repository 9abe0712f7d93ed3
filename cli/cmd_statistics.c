/* iothub statistics: registry and service statistics (spec 3.4). */
#include <jansson.h>
#include <stdio.h>

#include "cli.h"
#include "hub.h"
#include "output.h"

static void statistics_print_human(const json_t *stats, bool service)
{
    char buf[32];
    const struct output_kv kv = {.out = stdout, .width = 19};
    output_kv_line(&kv, "total devices",
                   output_json_text(stats, "totalDeviceCount", "-", buf, sizeof(buf)));
    output_kv_line(&kv, "enabled devices",
                   output_json_text(stats, "enabledDeviceCount", "-", buf, sizeof(buf)));
    output_kv_line(&kv, "disabled devices",
                   output_json_text(stats, "disabledDeviceCount", "-", buf, sizeof(buf)));
    if (service)
        output_kv_line(&kv, "connected devices",
                       output_json_text(stats, "connectedDeviceCount", "-", buf, sizeof(buf)));
}

int cmd_statistics(struct cli *cli, int argc, char **argv)
{
    bool service = false;
    const struct opt opts[] = {
        OPT_FLAG("service", &service,
                 "also show connected devices (GET /statistics/service; needs ServiceConnect)"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub statistics",
        .args = "[options]",
        .description = "Show the identity registry's statistics: total, enabled and disabled\n"
                       "devices (GET /statistics/devices). --json prints the hub's object (with\n"
                       "--service, both objects merged into one).",
        .min_args = 0,
        .max_args = 0,
        .groups = groups,
    };
    json_t *stats = NULL, *svc = NULL;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "GET", "/statistics/devices", NULL, NULL, &stats);
    if (rc != CLI_EXIT_OK)
        goto out_free;
    rc = CLI_EXIT_ERROR;
    if (!json_is_object(stats)) {
        fprintf(stderr, "error: the hub's answer is not a statistics object\n");
        goto out_free;
    }
    if (service) {
        rc = hub_call(hub, "GET", "/statistics/service", NULL, NULL, &svc);
        if (rc != CLI_EXIT_OK)
            goto out_free;
        rc = CLI_EXIT_ERROR;
        if (!json_is_object(svc) || json_object_update(stats, svc) != 0) {
            fprintf(stderr, "error: the hub's answer is not a statistics object\n");
            goto out_free;
        }
    }
    if (cli->json) {
        if (output_json(stdout, stats) != 0)
            goto out_free; /* main() reports the failed write */
    } else {
        statistics_print_human(stats, service);
    }
    rc = CLI_EXIT_OK;

out_free:
    json_decref(svc);
    json_decref(stats);
    return rc;
}
