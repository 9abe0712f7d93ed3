/* iothub device: the identity registry (spec 3.3, 3.4). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/device.h"
#include "common/random.h"
#include "hub.h"
#include "output.h"

#define DEVICE_PATH_MAX (sizeof("/devices/") + 3 * 1024 + 32)

static const char *const status_choices[] = {"enabled", "disabled", NULL};
static const char *const auth_choices[] = {"sas", "self-signed", "ca", "none", NULL};
static const char *const key_choices[] = {"primary", "secondary", NULL};

/* Members the hub computes; dropped from the body of an update. */
static const char *const read_only_members[] = {"generationId",
                                                "etag",
                                                "connectionState",
                                                "connectionStateUpdatedTime",
                                                "statusUpdatedTime",
                                                "lastActivityTime",
                                                "cloudToDeviceMessageCount",
                                                NULL};

/* ---------------------------------------------------------------------------------------
 * Shared helpers */

static int device_path(const struct opt_cmd *cmd, const char *id, char *out, size_t cap)
{
    if (id[0] == '\0')
        return opt_error(cmd, "the device id is empty");
    if (hub_path(out, cap, "/devices/", id, NULL) != 0)
        return opt_error(cmd, "the device id is too long");
    return 0;
}

static int check_key(const struct opt_cmd *cmd, const char *opt, const char *key)
{
    if (key && !device_key_valid(key))
        return opt_error(cmd, "'--%s' is not a base64 key of 16 to 64 bytes", opt);
    return 0;
}

static int check_thumbprint(const struct opt_cmd *cmd, const char *opt, const char *tp)
{
    if (tp && !device_thumbprint_valid(tp))
        return opt_error(cmd, "'--%s' is not a SHA-1 or SHA-256 thumbprint (40 or 64 hex digits)",
                         opt);
    return 0;
}

static int check_reason(const struct opt_cmd *cmd, const char *reason)
{
    if (reason && strlen(reason) > DEVICE_REASON_MAX)
        return opt_error(cmd, "'--status-reason' is longer than %d characters", DEVICE_REASON_MAX);
    return 0;
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

/* A write to stdout failed; main() reports it (quietly for a closed pipe). */
static int print_failed(void)
{
    return CLI_EXIT_ERROR;
}

/* Prints one device identity for people. */
static void device_print_human(FILE *out, const json_t *d)
{
    char buf[64];
    const struct output_kv kv = {.out = out, .width = 22};
    const char *type = output_json_str(d, "authentication.type");

    output_kv_line(&kv, "device id", output_json_str(d, "deviceId"));
    output_kv_line(&kv, "status", output_json_str(d, "status"));
    output_kv_line(&kv, "status reason", output_json_str(d, "statusReason"));
    output_kv_line(&kv, "status updated", output_time(output_json_str(d, "statusUpdatedTime")));
    output_kv_line(&kv, "connection state", output_json_str(d, "connectionState"));
    output_kv_line(&kv, "connection updated",
                   output_time(output_json_str(d, "connectionStateUpdatedTime")));
    output_kv_line(&kv, "last activity", output_time(output_json_str(d, "lastActivityTime")));
    output_kv_line(&kv, "auth type", type);
    const char *pk = output_json_str(d, "authentication.symmetricKey.primaryKey");
    const char *sk = output_json_str(d, "authentication.symmetricKey.secondaryKey");
    if ((type && strcmp(type, "sas") == 0) || (pk && pk[0]) || (sk && sk[0])) {
        output_kv_line(&kv, "primary key", pk);
        output_kv_line(&kv, "secondary key", sk);
    }
    const char *tp1 = output_json_str(d, "authentication.x509Thumbprint.primaryThumbprint");
    const char *tp2 = output_json_str(d, "authentication.x509Thumbprint.secondaryThumbprint");
    if ((type && strcmp(type, "selfSigned") == 0) || tp1 || tp2) {
        output_kv_line(&kv, "primary thumbprint", tp1);
        output_kv_line(&kv, "secondary thumbprint", tp2);
    }
    output_kv_line(&kv, "iot edge",
                   output_json_text(d, "capabilities.iotEdge", "false", buf, sizeof(buf)));
    const char *scope = output_json_str(d, "deviceScope");
    if (scope && scope[0])
        output_kv_line(&kv, "device scope", scope);
    output_kv_line(&kv, "c2d messages",
                   output_json_text(d, "cloudToDeviceMessageCount", "0", buf, sizeof(buf)));
    output_kv_line(&kv, "etag", output_json_str(d, "etag"));
    output_kv_line(&kv, "generation id", output_json_str(d, "generationId"));
}

static int device_print(const struct cli *cli, const json_t *d)
{
    if (!json_is_object(d)) {
        fprintf(stderr, "error: the hub's answer is not a device\n");
        return CLI_EXIT_ERROR;
    }
    if (cli->json) {
        if (output_json(stdout, d) != 0)
            return print_failed();
    } else {
        device_print_human(stdout, d);
    }
    return CLI_EXIT_OK;
}

/* Fills in whichever of the two keys the user left out with a fresh random key, so that
 * giving one key never leaves the other to chance. */
static int complete_keys(const char **pk, const char **sk, char gen[45])
{
    if ((*pk == NULL) == (*sk == NULL))
        return 0;
    if (random_key_b64(gen) != 0) {
        fprintf(stderr, "error: the random generator failed\n");
        return CLI_EXIT_ERROR;
    }
    if (!*pk)
        *pk = gen;
    else
        *sk = gen;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * device create */

static json_t *auth_json(const char *auth, const char *pk, const char *sk, const char *tp1,
                         const char *tp2)
{
    if (strcmp(auth, "sas") == 0)
        return json_pack("{s:s, s:{s:s, s:s}}", "type", "sas", "symmetricKey", "primaryKey",
                         pk ? pk : "", "secondaryKey", sk ? sk : "");
    if (strcmp(auth, "self-signed") == 0)
        return json_pack("{s:s, s:{s:s, s:s?}}", "type", "selfSigned", "x509Thumbprint",
                         "primaryThumbprint", tp1, "secondaryThumbprint", tp2);
    if (strcmp(auth, "ca") == 0)
        return json_pack("{s:s}", "type", "certificateAuthority");
    return json_pack("{s:s}", "type", "none");
}

static int device_create(struct cli *cli, int argc, char **argv)
{
    const char *pk = NULL, *sk = NULL, *status = NULL, *reason = NULL, *tp1 = NULL, *tp2 = NULL;
    const char *auth = NULL;
    bool edge = false;
    const struct opt opts[] = {
        OPT_STRING("primary-key", "KEY", &pk, "primary symmetric key (base64; default: generated)"),
        OPT_STRING("secondary-key", "KEY", &sk,
                   "secondary symmetric key (base64; default: generated)"),
        OPT_CHOICE("status", "enabled|disabled", &status, status_choices,
                   "initial status (default: enabled)"),
        OPT_STRING("status-reason", "TEXT", &reason, "why the device has this status"),
        OPT_FLAG("edge", &edge, "mark the device as an IoT Edge device"),
        OPT_STRING("x509-primary", "TP", &tp1,
                   "primary X.509 thumbprint (implies --auth self-signed)"),
        OPT_STRING("x509-secondary", "TP", &tp2, "secondary X.509 thumbprint"),
        OPT_CHOICE("auth", "sas|self-signed|ca|none", &auth, auth_choices,
                   "authentication type (default: sas, or self-signed with --x509-*)"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub device create",
        .args = "ID [options]",
        .description = "Register a new device identity. With symmetric-key authentication (the\n"
                       "default), keys not given are generated: both by the hub, or the missing\n"
                       "one by the CLI when only one is given. Prints the new device, keys\n"
                       "included.",
        .examples = "  iothub device create sensor-1\n"
                    "  iothub device create sensor-2 --status disabled --status-reason 'not "
                    "installed'\n"
                    "  iothub device create cam-1 --x509-primary 0123...cdef\n",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    char path[DEVICE_PATH_MAX];
    char genkey[45] = "";
    json_t *body = NULL, *dev = NULL;
    int rc;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    const char *id = argv[0];
    if (!device_id_valid(id))
        return cli_opt_exit(opt_error(&cmd,
                                      "invalid device id '%s' (1 to 128 letters, digits or "
                                      "- . + %% _ # * ? ! ( ) , = @ $ ')",
                                      id));
    if (!auth)
        auth = (tp1 || tp2) ? "self-signed" : "sas";
    if ((pk || sk) && strcmp(auth, "sas") != 0)
        return cli_opt_exit(opt_error(&cmd, "keys need '--auth sas'"));
    if ((tp1 || tp2) && strcmp(auth, "self-signed") != 0)
        return cli_opt_exit(opt_error(&cmd, "thumbprints need '--auth self-signed'"));
    if (strcmp(auth, "self-signed") == 0 && !tp1)
        return cli_opt_exit(opt_error(&cmd, "'--auth self-signed' needs '--x509-primary'"));
    if (check_key(&cmd, "primary-key", pk) || check_key(&cmd, "secondary-key", sk) ||
        check_thumbprint(&cmd, "x509-primary", tp1) ||
        check_thumbprint(&cmd, "x509-secondary", tp2) || check_reason(&cmd, reason) ||
        device_path(&cmd, id, path, sizeof(path)))
        return CLI_EXIT_USAGE;

    struct hub *hub;
    rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = complete_keys(&pk, &sk, genkey);
    if (rc != CLI_EXIT_OK)
        return rc;

    rc = CLI_EXIT_ERROR;
    body = json_pack("{s:s, s:o}", "deviceId", id, "authentication",
                     auth_json(auth, pk, sk, tp1, tp2));
    if (!body)
        goto out_oom;
    if (status && json_object_set_new(body, "status", json_string(status)) != 0)
        goto out_oom;
    if (reason && json_object_set_new(body, "statusReason", json_string(reason)) != 0)
        goto out_oom;
    if (edge && json_object_set_new(body, "capabilities", json_pack("{s:b}", "iotEdge", 1)) != 0)
        goto out_oom;

    rc = hub_call(hub, "PUT", path, body, NULL, &dev);
    if (rc == CLI_EXIT_OK)
        rc = device_print(cli, dev);
    goto out_free;

out_oom:
    fprintf(stderr, "error: out of memory\n");
out_free:
    json_decref(dev);
    json_decref(body);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * device show */

static int device_show(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub device show",
        .args = "ID [options]",
        .description = "Show a device identity, keys included.",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    char path[DEVICE_PATH_MAX];
    json_t *dev = NULL;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (device_path(&cmd, argv[0], path, sizeof(path)))
        return CLI_EXIT_USAGE;
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "GET", path, NULL, NULL, &dev);
    if (rc == CLI_EXIT_OK)
        rc = device_print(cli, dev);
    json_decref(dev);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * device list */

static int device_list_table(const json_t *list)
{
    static const char *const headers[] = {"DEVICE ID", "STATUS", "CONNECTION", "AUTH",
                                          "LAST ACTIVITY"};
    struct table *t = table_new(5, headers);
    if (!t)
        goto out_oom;
    size_t i;
    const json_t *d;
    json_array_foreach(list, i, d)
    {
        const char *row[5] = {
            output_json_str(d, "deviceId"),
            output_json_str(d, "status"),
            output_json_str(d, "connectionState"),
            output_json_str(d, "authentication.type"),
            output_time(output_json_str(d, "lastActivityTime")),
        };
        if (table_add_row(t, row) != 0)
            goto out_oom;
    }
    table_print(t, stdout);
    table_free(t);
    return CLI_EXIT_OK;

out_oom:
    table_free(t);
    fprintf(stderr, "error: out of memory\n");
    return CLI_EXIT_ERROR;
}

static int device_list(struct cli *cli, int argc, char **argv)
{
    long top = 0;
    const struct opt opts[] = {
        OPT_LONG("top", "N", &top, 1, 1000, "list at most N devices (1-1000; default: the hub's)"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub device list",
        .args = "[options]",
        .description = "List device identities: id, status, connection state, authentication\n"
                       "type and last activity (--json: the hub's full device objects).",
        .min_args = 0,
        .max_args = 0,
        .groups = groups,
    };
    char path[64] = "/devices";
    json_t *list = NULL;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (top > 0)
        snprintf(path, sizeof(path), "/devices?top=%ld", top);
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "GET", path, NULL, NULL, &list);
    if (rc != CLI_EXIT_OK)
        goto out_free;
    if (!json_is_array(list)) {
        fprintf(stderr, "error: the hub's answer is not a list of devices\n");
        rc = CLI_EXIT_ERROR;
        goto out_free;
    }
    if (cli->json)
        rc = output_json(stdout, list) == 0 ? CLI_EXIT_OK : print_failed();
    else
        rc = device_list_table(list);

out_free:
    json_decref(list);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * device update */

/* Applies new keys to the device's authentication, switching it to "sas" when needed and
 * keeping (or, when there is none, generating) the key that was not given. */
static int update_keys(json_t *dev, const char *pk, const char *sk)
{
    char gen[45];
    const char *type = output_json_str(dev, "authentication.type");
    const char *old_pk = output_json_str(dev, "authentication.symmetricKey.primaryKey");
    const char *old_sk = output_json_str(dev, "authentication.symmetricKey.secondaryKey");
    bool was_sas = type && strcmp(type, "sas") == 0;

    if (!pk && was_sas && old_pk && old_pk[0])
        pk = old_pk;
    if (!sk && was_sas && old_sk && old_sk[0])
        sk = old_sk;
    int rc = complete_keys(&pk, &sk, gen);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *fresh = auth_json("sas", pk, sk, NULL, NULL);
    if (!fresh)
        return CLI_EXIT_ERROR;
    /* pk and sk may point into the old authentication object, which this frees: so the
     * new one is built first. */
    if (json_object_set_new(dev, "authentication", fresh) != 0)
        return CLI_EXIT_ERROR;
    return CLI_EXIT_OK;
}

static int device_update(struct cli *cli, int argc, char **argv)
{
    const char *status = NULL, *reason = NULL, *pk = NULL, *sk = NULL, *etag = NULL;
    const struct opt opts[] = {
        OPT_CHOICE("status", "enabled|disabled", &status, status_choices, "new status"),
        OPT_STRING("status-reason", "TEXT", &reason, "new status reason ('' clears it)"),
        OPT_STRING("primary-key", "KEY", &pk, "new primary symmetric key (base64)"),
        OPT_STRING("secondary-key", "KEY", &sk, "new secondary symmetric key (base64)"),
        OPT_STRING("etag", "ETAG", &etag, "update only if the device still has this etag"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub device update",
        .args = "ID [options]",
        .description = "Change a device identity: fetches it, changes only the given fields and\n"
                       "writes it back (If-Match: the --etag given, else \"*\"). Giving keys to a\n"
                       "device that does not use symmetric keys switches it to them. Prints the\n"
                       "updated device.",
        .examples = "  iothub device update sensor-1 --status disabled --status-reason stolen\n"
                    "  iothub device update sensor-1 --primary-key \"$(openssl rand -base64 "
                    "32)\"\n",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    char path[DEVICE_PATH_MAX];
    json_t *dev = NULL, *updated = NULL;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (!status && !reason && !pk && !sk)
        return cli_opt_exit(opt_error(&cmd, "nothing to update: give --status, --status-reason, "
                                            "--primary-key or --secondary-key"));
    if (check_key(&cmd, "primary-key", pk) || check_key(&cmd, "secondary-key", sk) ||
        check_reason(&cmd, reason) || check_etag(&cmd, etag) ||
        device_path(&cmd, argv[0], path, sizeof(path)))
        return CLI_EXIT_USAGE;

    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "GET", path, NULL, NULL, &dev);
    if (rc != CLI_EXIT_OK)
        goto out_free;
    rc = CLI_EXIT_ERROR;
    if (!json_is_object(dev)) {
        fprintf(stderr, "error: the hub's answer is not a device\n");
        goto out_free;
    }
    for (const char *const *m = read_only_members; *m; m++)
        json_object_del(dev, *m);
    if (status && json_object_set_new(dev, "status", json_string(status)) != 0)
        goto out_oom;
    if (reason && json_object_set_new(dev, "statusReason",
                                      reason[0] ? json_string(reason) : json_null()) != 0)
        goto out_oom;
    if (pk || sk) {
        rc = update_keys(dev, pk, sk);
        if (rc != CLI_EXIT_OK)
            goto out_free;
    }

    rc = hub_call(hub, "PUT", path, dev, etag ? etag : "*", &updated);
    if (rc == CLI_EXIT_OK)
        rc = device_print(cli, updated);
    goto out_free;

out_oom:
    fprintf(stderr, "error: out of memory\n");
out_free:
    json_decref(updated);
    json_decref(dev);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * device delete */

static int device_delete(struct cli *cli, int argc, char **argv)
{
    const char *etag = NULL;
    const struct opt opts[] = {
        OPT_STRING("etag", "ETAG", &etag, "delete only if the device still has this etag"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub device delete",
        .args = "ID [options]",
        .description = "Delete a device identity, with its twin, modules and queued messages\n"
                       "(If-Match: the --etag given, else \"*\"). Prints nothing with --json.",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    char path[DEVICE_PATH_MAX];

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (check_etag(&cmd, etag) || device_path(&cmd, argv[0], path, sizeof(path)))
        return CLI_EXIT_USAGE;
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "DELETE", path, NULL, etag ? etag : "*", NULL);
    if (rc == CLI_EXIT_OK && !cli->json)
        printf("deleted device '%s'\n", argv[0]);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * device connection-string */

static int device_connection_string(struct cli *cli, int argc, char **argv)
{
    const char *which = "primary";
    const struct opt opts[] = {
        OPT_CHOICE("key", "primary|secondary", &which, key_choices,
                   "which key to put in the string (default: primary)"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub device connection-string",
        .args = "ID [options]",
        .description = "Print the device's connection string,\n"
                       "HostName=<host>;DeviceId=<id>;SharedAccessKey=<key>, for a device SDK.\n"
                       "The device must use symmetric keys. --json prints "
                       "{\"connectionString\": ...}.",
        .examples = "  export DEVICE_CONNECTION_STRING=\"$(iothub device connection-string "
                    "sensor-1)\"\n",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    char path[DEVICE_PATH_MAX];
    json_t *dev = NULL, *wrapped = NULL;
    char *cs = NULL;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (device_path(&cmd, argv[0], path, sizeof(path)))
        return CLI_EXIT_USAGE;
    struct hub *hub;
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = hub_call(hub, "GET", path, NULL, NULL, &dev);
    if (rc != CLI_EXIT_OK)
        goto out_free;

    rc = CLI_EXIT_ERROR;
    const char *type = output_json_str(dev, "authentication.type");
    const char *id = output_json_str(dev, "deviceId");
    const char *key = output_json_str(dev, strcmp(which, "primary") == 0
                                               ? "authentication.symmetricKey.primaryKey"
                                               : "authentication.symmetricKey.secondaryKey");
    if (!type || strcmp(type, "sas") != 0) {
        fprintf(stderr, "error: device '%s' does not use symmetric keys (auth type %s)\n", argv[0],
                type ? type : "unknown");
        goto out_free;
    }
    if (!key || key[0] == '\0') {
        fprintf(stderr, "error: device '%s' has no %s key\n", argv[0], which);
        goto out_free;
    }
    if (!id)
        id = argv[0];
    if (asprintf(&cs, "HostName=%s;DeviceId=%s;SharedAccessKey=%s", hub_host(hub), id, key) < 0) {
        cs = NULL;
        fprintf(stderr, "error: out of memory\n");
        goto out_free;
    }
    if (cli->json) {
        wrapped = json_pack("{s:s}", "connectionString", cs);
        if (!wrapped) {
            fprintf(stderr, "error: out of memory\n");
            goto out_free;
        }
        if (output_json(stdout, wrapped) != 0) {
            rc = print_failed();
            goto out_free;
        }
    } else {
        printf("%s\n", cs);
    }
    rc = CLI_EXIT_OK;

out_free:
    free(cs);
    json_decref(wrapped);
    json_decref(dev);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * The family */

static const struct cli_command device_commands[] = {
    {"create", "register a new device identity", device_create},
    {"show", "show a device identity", device_show},
    {"list", "list device identities", device_list},
    {"update", "change status, status reason or keys", device_update},
    {"delete", "delete a device identity", device_delete},
    {"connection-string", "print a device connection string", device_connection_string},
    {NULL, NULL, NULL},
};

static void device_help_commands(FILE *out)
{
    cli_commands_help(out, "Commands", device_commands);
}

int cmd_device(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub device",
        .args = "<command> [options]",
        .description = "Manage device identities in the hub's identity registry.",
        .min_args = 0,
        .max_args = -1,
        .flags = OPT_STOP_AT_NON_OPTION,
        .groups = groups,
        .help_extra = device_help_commands,
    };
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (n == 0)
        return cli_opt_exit(opt_error(&cmd, "missing command"));
    return cli_dispatch(cli, device_commands, &cmd, n, argv);
}
