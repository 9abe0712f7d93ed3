/* iothub method: direct methods (spec 3.6). `invoke` calls a method on a connected device
 * through POST /twins/{id}/methods and prints the device's answer. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hub.h"
#include "output.h"

#define METHOD_PATH_MAX (sizeof("/twins//methods") + 3 * 1024 + 32)

static void invoke_help_exit_codes(FILE *out)
{
    fprintf(out, "\nExit codes:\n"
                 "  0  the device answered (whatever status it chose)\n"
                 "  1  no answer in time (GatewayTimeout), an answer that is not JSON, other "
                 "hub errors\n"
                 "  4  unknown device (DeviceNotFound) or device not online (DeviceNotOnline)\n"
                 "  6  the hub cannot be reached, or no HTTP answer within 120 s\n"
                 "  7  rejected request: bad method name or timeouts, payload over 128 KiB\n");
}

static int method_invoke(struct cli *cli, int argc, char **argv)
{
    const char *payload_text = NULL;
    long timeout = 30, connect_timeout = 0;
    const struct opt opts[] = {
        OPT_STRING("payload", "JSON", &payload_text,
                   "the method's payload, any JSON value (default: null)"),
        OPT_LONG("timeout", "S", &timeout, 5, 300,
                 "seconds to wait for the device's answer, 5 to 300 (default 30)"),
        OPT_LONG("connect-timeout", "S", &connect_timeout, 0, 300,
                 "seconds to wait for the device to come online, 0 to 300 (default 0)"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub method invoke",
        .args = "ID NAME [options]",
        .description =
            "Call direct method NAME on device ID and print its answer as\n"
            "{\"status\": <the device's status>, \"payload\": <its JSON or null>} on one line\n"
            "(--json: the hub's reply, indented). The device must be connected over MQTT and\n"
            "subscribed to $iothub/methods/POST/#, or come online within --connect-timeout.\n"
            "The CLI's HTTPS client waits at most 120 s in all.",
        .examples = "  iothub method invoke thermostat1 reboot --payload '{\"delay\": 5}'\n"
                    "  iothub method invoke sensor7 getReading --connect-timeout 60\n",
        .min_args = 2,
        .max_args = 2,
        .groups = groups,
        .help_extra = invoke_help_exit_codes,
    };

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    const char *id = argv[0], *name = argv[1];
    char path[METHOD_PATH_MAX];
    if (id[0] == '\0')
        return cli_opt_exit(opt_error(&cmd, "the device id is empty"));
    if (hub_path(path, sizeof(path), "/twins/", id, "/methods") != 0)
        return cli_opt_exit(opt_error(&cmd, "the device id is too long"));

    json_t *payload = json_null();
    if (payload_text) {
        json_error_t err;
        payload = json_loads(payload_text, JSON_DECODE_ANY, &err);
        if (!payload)
            return cli_opt_exit(opt_error(&cmd, "'--payload' is not JSON: %s", err.text));
    }
    json_t *body = json_pack("{s:s, s:I, s:I, s:o}", "methodName", name, "responseTimeoutInSeconds",
                             (json_int_t)timeout, "connectTimeoutInSeconds",
                             (json_int_t)connect_timeout, "payload", payload);
    if (!body) {
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }

    struct hub *hub;
    json_t *reply = NULL;
    int rc = cli_hub(cli, &hub);
    if (rc == CLI_EXIT_OK) {
        /* The hub answers within connect + response timeout; allow for the network too. */
        hub_set_timeout(hub, connect_timeout + timeout + 30);
        rc = hub_call(hub, "POST", path, body, NULL, &reply);
    }
    if (rc == CLI_EXIT_OK) {
        if (!json_is_object(reply) || !json_is_integer(json_object_get(reply, "status"))) {
            fprintf(stderr, "error: the hub's answer is not {\"status\", \"payload\"}\n");
            rc = CLI_EXIT_ERROR;
        } else if (cli->json) {
            rc = output_json(stdout, reply) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
        } else {
            json_t *line = json_pack("{s:O, s:O?}", "status", json_object_get(reply, "status"),
                                     "payload", json_object_get(reply, "payload"));
            char *text =
                line ? json_dumps(line, JSON_COMPACT | JSON_ENCODE_ANY | CLI_JSON_REAL) : NULL;
            if (!text || printf("%s\n", text) < 0)
                rc = CLI_EXIT_ERROR;
            free(text);
            json_decref(line);
        }
    }
    json_decref(reply);
    json_decref(body);
    return rc;
}

static const struct cli_command method_commands[] = {
    {"invoke", "call a direct method on a device and print its answer", method_invoke},
    {NULL, NULL, NULL},
};

static void method_help_commands(FILE *out)
{
    cli_commands_help(out, "Commands", method_commands);
}

int cmd_method(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub method",
        .args = "<command> [options]",
        .description = "Direct methods: call a method on a connected device and wait for its\n"
                       "answer (spec: POST /twins/{id}/methods).",
        .min_args = 0,
        .max_args = -1,
        .flags = OPT_STOP_AT_NON_OPTION,
        .groups = groups,
        .help_extra = method_help_commands,
    };
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (n == 0)
        return cli_opt_exit(opt_error(&cmd, "missing command"));
    return cli_dispatch(cli, method_commands, &cmd, n, argv);
}
