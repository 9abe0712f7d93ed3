/* iothub twin: show and update device twins (spec 3.5). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hub.h"
#include "output.h"

#define TWIN_PATH_MAX (sizeof("/twins/") + 3 * 1024 + 32)

static int twin_path(const struct opt_cmd *cmd, const char *id, char *out, size_t cap)
{
    if (id[0] == '\0')
        return opt_error(cmd, "the device id is empty");
    if (hub_path(out, cap, "/twins/", id, NULL) != 0)
        return opt_error(cmd, "the device id is too long");
    return 0;
}

/* A section without its $metadata, for people. */
static void print_section(FILE *out, const char *title, const json_t *section)
{
    json_t *copy = json_is_object(section) ? json_copy((json_t *)section) : json_object();
    if (copy)
        json_object_del(copy, "$metadata");
    fprintf(out, "%s:\n", title);
    char *text = copy ? json_dumps(copy, JSON_INDENT(2) | CLI_JSON_REAL) : NULL;
    fprintf(out, "%s\n", text ? text : "{}");
    free(text);
    json_decref(copy);
}

static int twin_print(const struct cli *cli, const json_t *t)
{
    if (!json_is_object(t)) {
        fprintf(stderr, "error: the hub's answer is not a twin\n");
        return CLI_EXIT_ERROR;
    }
    if (cli->json)
        return output_json(stdout, t) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    char buf[64];
    const struct output_kv kv = {.out = stdout, .width = 18};
    output_kv_line(&kv, "device id", output_json_str(t, "deviceId"));
    output_kv_line(&kv, "etag", output_json_str(t, "etag"));
    output_kv_line(&kv, "version", output_json_text(t, "version", "-", buf, sizeof(buf)));
    output_kv_line(&kv, "status", output_json_str(t, "status"));
    output_kv_line(&kv, "connection state", output_json_str(t, "connectionState"));
    print_section(stdout, "tags", json_object_get(t, "tags"));
    const json_t *props = json_object_get(t, "properties");
    print_section(stdout, "desired", json_object_get(props, "desired"));
    print_section(stdout, "reported", json_object_get(props, "reported"));
    return ferror(stdout) ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

/* ---------------------------------------------------------------------------------------
 * twin show */

static int twin_show(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub twin show",
        .args = "ID [options]",
        .description = "Show the twin of a device: tags, desired and reported properties\n"
                       "(--json: the hub's whole twin document, $metadata included).",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    char path[TWIN_PATH_MAX];
    json_t *twin = NULL;
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (twin_path(&cmd, argv[0], path, sizeof(path)))
        return CLI_EXIT_USAGE;
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "GET", path, NULL, NULL, &twin);
    if (rc == CLI_EXIT_OK)
        rc = twin_print(cli, twin);
    json_decref(twin);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * twin update */

/* Parses the JSON object of option name; NULL after reporting a usage error. */
static json_t *json_option(const struct opt_cmd *cmd, const char *name, const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    if (!v) {
        opt_error(cmd, "'--%s' is not JSON: %s", name, err.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        opt_error(cmd, "'--%s' must be a JSON object", name);
        return NULL;
    }
    return v;
}

static int check_etag(const struct opt_cmd *cmd, const char *etag)
{
    if (!etag)
        return 0;
    size_t len = strlen(etag);
    if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
        etag++;
        len -= 2;
    }
    if (len == 0 || memchr(etag, '"', len) || strpbrk(etag, "\r\n"))
        return opt_error(cmd, "'--etag' is not a valid etag");
    return 0;
}

static int twin_update(struct cli *cli, int argc, char **argv)
{
    const char *desired = NULL, *tags = NULL, *patch = NULL, *etag = NULL;
    const struct opt opts[] = {
        OPT_STRING("desired", "JSON", &desired,
                   "merge this object into properties.desired (null deletes a key)"),
        OPT_STRING("tags", "JSON", &tags, "merge this object into tags (null deletes a key)"),
        OPT_STRING("patch", "JSON", &patch,
                   "send this whole patch: {\"tags\":{..},\"properties\":{\"desired\":{..}}}"),
        OPT_STRING("etag", "ETAG", &etag, "only update when the twin still has this etag"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub twin update",
        .args = "ID (--desired JSON | --tags JSON | --patch JSON) [options]",
        .description = "Update the tags and desired properties of a device twin with a JSON\n"
                       "merge patch: objects merge, null removes a key. A connected device that\n"
                       "subscribed to desired changes gets the change at once. Prints the new\n"
                       "twin. Reported properties belong to the device and cannot be set here.",
        .examples = "  iothub twin update sensor-1 --desired '{\"interval\":30}'\n"
                    "  iothub twin update sensor-1 --tags '{\"room\":\"b43\",\"old\":null}'\n"
                    "  iothub twin update sensor-1 --etag AAAAAAAAAAI= \\\n"
                    "      --patch '{\"tags\":{\"room\":\"b44\"},\"properties\":{\"desired\":"
                    "{\"interval\":60}}}'\n",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    char path[TWIN_PATH_MAX];
    json_t *body = NULL, *twin = NULL;
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (!desired && !tags && !patch)
        return cli_opt_exit(opt_error(&cmd, "give '--desired', '--tags' or '--patch'"));
    if (patch && (desired || tags))
        return cli_opt_exit(opt_error(&cmd, "'--patch' cannot be combined with '--desired' or "
                                            "'--tags'"));
    if (twin_path(&cmd, argv[0], path, sizeof(path)) || check_etag(&cmd, etag))
        return CLI_EXIT_USAGE;
    if (patch) {
        body = json_option(&cmd, "patch", patch);
    } else {
        body = json_object();
        json_t *t = tags ? json_option(&cmd, "tags", tags) : NULL;
        json_t *d = desired ? json_option(&cmd, "desired", desired) : NULL;
        if ((tags && !t) || (desired && !d)) {
            json_decref(t);
            json_decref(d);
            json_decref(body);
            return CLI_EXIT_USAGE;
        }
        if (!body || (t && json_object_set_new(body, "tags", t) != 0) ||
            (d && json_object_set_new(body, "properties", json_pack("{s:o}", "desired", d)) != 0)) {
            json_decref(body);
            fprintf(stderr, "error: out of memory\n");
            return CLI_EXIT_ERROR;
        }
    }
    if (!body)
        return CLI_EXIT_USAGE;
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc == CLI_EXIT_OK)
        rc = hub_call(hub, "PATCH", path, body, etag, &twin);
    if (rc == CLI_EXIT_OK)
        rc = twin_print(cli, twin);
    json_decref(twin);
    json_decref(body);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * dispatch */

static const struct cli_command twin_commands[] = {
    {"show", "show a device twin", twin_show},
    {"update", "merge tags or desired properties into a device twin", twin_update},
    {NULL, NULL, NULL},
};

static void twin_help_commands(FILE *out)
{
    cli_commands_help(out, "Commands", twin_commands);
}

int cmd_twin(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub twin",
        .args = "<command> [options]",
        .description = "Show or update device twins: tags, desired and reported properties.",
        .min_args = 0,
        .max_args = -1,
        .flags = OPT_STOP_AT_NON_OPTION,
        .groups = groups,
        .help_extra = twin_help_commands,
    };
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (n == 0)
        return cli_opt_exit(opt_error(&cmd, "missing command"));
    return cli_dispatch(cli, twin_commands, &cmd, n, argv);
}
