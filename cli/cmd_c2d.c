/* iothub c2d: cloud-to-device messages as the service sends them (spec 5.3), over AMQP on the
 * hub's IoT hub endpoint (amqp_client.h), never through the daemon's files:
 *
 *   send      one message on a sender link to /messages/devicebound, `to` =
 *             /devices/{id}/messages/devicebound; the hub's disposition decides the exit code
 *   feedback  a receiver on /messages/serviceBound/feedback; each message's JSON records are
 *             printed, then the message is accepted (which removes it from the hub)
 *
 * Ownership: the body read from a file is malloc'ed here and freed before returning; the
 * AMQP client and the Proton message are created and freed by each command. */
#include <errno.h>
#include <jansson.h>
#include <proton/codec.h>
#include <proton/disposition.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_client.h"
#include "c2d_feedback.h"
#include "c2d_message.h"
#include "cli.h"
#include "common/isotime.h"
#include "hub.h"
#include "output.h"

#define FEEDBACK_ADDRESS "/messages/serviceBound/feedback"
#define BODY_FILE_MAX    (1u << 20) /* far above the hub's 64 KiB: the hub has the last word */
#define DEVICE_ID_MAX    128

/* ---------------------------------------------------------------------------------------
 * Shared setup */

/* Host (HostName without :port), policy and key of the login, for the AMQP client. */
static int amqp_login(struct cli *cli, long port, struct amqp_client_options *o, char *host,
                      size_t host_cap)
{
    struct hub *hub;
    char entity[CLI_HOST_MAX];
    int rc = cli_hub(cli, &hub);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (eventhub_names(hub_host(hub), host, host_cap, entity, sizeof(entity)) != 0) {
        fprintf(stderr, "error: cannot take the host name from HostName '%s'\n", hub_host(hub));
        return CLI_EXIT_USAGE;
    }
    *o = (struct amqp_client_options){
        .host = host,
        .port = port,
        .cafile = cli->cafile && cli->cafile[0] ? cli->cafile : NULL,
        .policy = hub_policy(hub),
        .key = hub_key(hub),
        .step_timeout_ms = AMQP_CLIENT_STEP_TIMEOUT_MS,
    };
    return CLI_EXIT_OK;
}

/* True when "--name" (arg without '=') is an option of cmd that takes a value. */
static bool takes_value(const struct opt_cmd *cmd, const char *arg)
{
    if (strncmp(arg, "--", 2) != 0 || strchr(arg, '='))
        return false;
    for (const struct opt_group *g = cmd->groups; g->title; g++)
        for (const struct opt *o = g->opts; o->type != OPT_TYPE_END; o++)
            if (o->type != OPT_TYPE_FLAG && strcmp(o->name, arg + 2) == 0)
                return true;
    return false;
}

/* Takes every "--NAME VALUE" / "--NAME=VALUE" of a repeatable option out of argv (up to any
 * "--") into values, so that opt_parse (which keeps one value per option) sees the rest.
 * Values of other options are passed over. Returns the new argc, or -1 (message printed)
 * when a value is missing or there are more than max. */
static int take_repeated(const struct opt_cmd *cmd, int argc, char **argv, const char *name,
                         const char **values, size_t max, size_t *count)
{
    size_t name_len = strlen(name);
    int out = 1;
    *count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        bool ours = strncmp(a, "--", 2) == 0 && strncmp(a + 2, name, name_len) == 0 &&
                    (a[2 + name_len] == '=' || a[2 + name_len] == '\0');
        if (!ours) {
            argv[out++] = argv[i];
            if (takes_value(cmd, a) && i + 1 < argc)
                argv[out++] = argv[++i];
            continue;
        }
        if (a[2 + name_len] == '\0' && i + 1 == argc) {
            opt_error(cmd, "option '--%s' needs a value", name);
            return -1;
        }
        if (*count == max) {
            opt_error(cmd, "at most %zu '--%s' options are allowed", max, name);
            return -1;
        }
        values[(*count)++] = a[2 + name_len] == '=' ? a + 3 + name_len : argv[++i];
    }
    return out;
}

/* ---------------------------------------------------------------------------------------
 * iothub c2d send */

/* The whole of path ("-" = stdin) into *out (malloc'ed, caller frees). */
static int read_body_file(const char *path, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open the body file '%s': %s\n", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    char *buf = malloc(BODY_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, BODY_FILE_MAX + 1, f) : 0;
    bool error = ferror(f);
    if (f != stdin)
        fclose(f);
    if (!buf) {
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    if (error) {
        fprintf(stderr, "error: cannot read the body file '%s'\n", path);
        free(buf);
        return CLI_EXIT_USAGE;
    }
    if (n > BODY_FILE_MAX) {
        fprintf(stderr,
                "error: the body file '%s' is larger than %u bytes (hubs take at most 64 KiB)\n",
                path, BODY_FILE_MAX);
        free(buf);
        return CLI_EXIT_BAD_REQUEST;
    }
    *out = buf;
    *len = n;
    return CLI_EXIT_OK;
}

/* The exit code and message for the hub's outcome of a send. */
static int report_outcome(const struct amqp_outcome *o, const char *device_id)
{
    if (o->state == PN_ACCEPTED)
        return CLI_EXIT_OK;
    if (o->state != PN_REJECTED) {
        fprintf(stderr, "error: the hub %s the message without queuing it; send it again\n",
                o->state == PN_RELEASED ? "released" : "returned");
        return CLI_EXIT_ERROR;
    }
    int rc = amqp_client_exit_for_condition(o->condition);
    const char *hint = rc == CLI_EXIT_NOT_FOUND ? "device '%s' is not registered"
                       : rc == CLI_EXIT_CONFLICT
                           ? "the cloud-to-device queue of device '%s' is full; retry after the "
                             "device has taken messages"
                           : NULL;
    char text[700];
    if (o->description[0])
        snprintf(text, sizeof(text), "%s", o->description);
    else if (hint)
        snprintf(text, sizeof(text), hint, device_id);
    else
        snprintf(text, sizeof(text), "the hub rejected the message");
    fprintf(stderr, "error: %s: %s\n", o->condition[0] ? o->condition : "rejected", text);
    return rc;
}

static int c2d_send(struct cli *cli, int argc, char **argv)
{
    const char *body = NULL, *body_file = NULL, *message_id = NULL, *correlation_id = NULL;
    const char *content_type = NULL, *content_encoding = NULL, *ack = NULL, *prop_help = NULL;
    long ttl = 0, amqp_port = AMQP_CLIENT_PORT;
    static const char *const acks[] = {"none", "positive", "negative", "full", NULL};
    const struct opt opts[] = {
        OPT_STRING("body", "TEXT", &body, "the message body (default: empty)"),
        OPT_STRING("body-file", "FILE", &body_file, "read the body from FILE ('-': stdin)"),
        OPT_STRING("prop", "NAME=VALUE", &prop_help, "an application property (repeatable)"),
        OPT_STRING("message-id", "ID", &message_id, "the message id (default: a new uuid)"),
        OPT_STRING("correlation-id", "ID", &correlation_id, "the correlation id"),
        OPT_STRING("content-type", "TYPE", &content_type, "content type, e.g. application/json"),
        OPT_STRING("content-encoding", "ENC", &content_encoding, "content encoding, e.g. utf-8"),
        OPT_CHOICE("ack", "none|positive|negative|full", &ack, acks,
                   "ask for delivery feedback (iothub c2d feedback)"),
        OPT_LONG("ttl", "S", &ttl, 1, C2D_MAX_TTL_S,
                 "expire after S seconds (default: the hub's, 1 hour)"),
        OPT_LONG("amqp-port", "N", &amqp_port, 1, 65535, "the hub's AMQP port (default: 5671)"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub c2d send",
        .args = "DEVICE_ID [options]",
        .description =
            "Send one cloud-to-device message to a device, as the service SDKs do (AMQP over\n"
            "TLS, port 5671, link /messages/devicebound). The hub queues it (at most 50 per\n"
            "device, 64 KiB each) until the device takes it. Prints the message id once the\n"
            "hub has queued the message; with --ack, 'iothub c2d feedback' later reports\n"
            "what became of it. --json prints {\"messageId\": ..., \"deviceId\": ...}.\n"
            "Exit codes: 4 unknown device, 5 queue full, 7 message too large or invalid.\n"
            "The login's policy needs ServiceConnect.",
        .examples = "  iothub c2d send sensor-1 --body 'reboot'\n"
                    "  iothub c2d send sensor-1 --body-file cmd.json --content-type "
                    "application/json \\\n"
                    "      --prop priority=high --ack full\n",
        .min_args = 1,
        .max_args = 1,
        .groups = groups,
    };
    const char *prop_args[C2D_MAX_PROPS];
    size_t nprops = 0;
    argc = take_repeated(&cmd, argc, argv, "prop", prop_args, C2D_MAX_PROPS, &nprops);
    if (argc < 0)
        return CLI_EXIT_USAGE;
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    const char *device_id = argv[0];
    if (device_id[0] == '\0' || strlen(device_id) > DEVICE_ID_MAX)
        return cli_opt_exit(
            opt_error(&cmd, "the device id must be 1 to %d characters", DEVICE_ID_MAX));
    if (body && body_file)
        return cli_opt_exit(opt_error(&cmd, "give '--body' or '--body-file', not both"));
    if (message_id && (message_id[0] == '\0' || strlen(message_id) >= C2D_MESSAGE_ID_MAX))
        return cli_opt_exit(
            opt_error(&cmd, "the message id must be 1 to %d characters", C2D_MESSAGE_ID_MAX - 1));

    struct c2d_message m = {
        .device_id = device_id,
        .correlation_id = correlation_id,
        .content_type = content_type,
        .content_encoding = content_encoding,
        .ack = ack,
        .body = body ? body : "",
        .body_len = body ? strlen(body) : 0,
    };
    char why[512];
    for (size_t i = 0; i < nprops; i++) {
        /* c2d_prop_parse splits in place: work on argv's own string. */
        if (c2d_prop_parse((char *)prop_args[i], &m.props[m.nprops++], why, sizeof(why)) != 0)
            return cli_opt_exit(opt_error(&cmd, "%s", why));
    }
    char uuid[37];
    if (!message_id) {
        if (c2d_uuid(uuid) != 0) {
            fprintf(stderr, "error: cannot make a random message id\n");
            return CLI_EXIT_ERROR;
        }
        message_id = uuid;
    }
    m.message_id = message_id;
    if (ttl > 0)
        m.expiry_ms = time_now_ms() + (int64_t)ttl * 1000;

    char *file_body = NULL;
    if (body_file) {
        int rc = read_body_file(body_file, &file_body, &m.body_len);
        if (rc != CLI_EXIT_OK)
            return rc;
        m.body = file_body;
    }

    int rc;
    char host[CLI_HOST_MAX];
    struct amqp_client_options o;
    struct amqp_client *client = NULL;
    pn_message_t *msg = pn_message();
    if (!msg) {
        fprintf(stderr, "error: out of memory\n");
        rc = CLI_EXIT_ERROR;
    } else if (c2d_message_build(&m, msg, why, sizeof(why)) != 0) {
        rc = cli_opt_exit(opt_error(&cmd, "%s", why));
    } else if ((rc = amqp_login(cli, amqp_port, &o, host, sizeof(host))) == CLI_EXIT_OK &&
               (rc = amqp_client_open(&o, &client)) == CLI_EXIT_OK) {
        pn_link_t *sender;
        struct amqp_outcome outcome;
        rc = amqp_client_attach_sender(client, C2D_SEND_ADDRESS, &sender);
        if (rc == CLI_EXIT_OK)
            rc = amqp_client_send(client, sender, msg, &outcome);
        if (rc == CLI_EXIT_OK)
            rc = report_outcome(&outcome, device_id);
    }
    if (rc == CLI_EXIT_OK) {
        if (cli->json) {
            json_t *j = json_pack("{s:s, s:s}", "messageId", message_id, "deviceId", device_id);
            rc = j && output_json(stdout, j) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
            json_decref(j);
        } else {
            printf("%s\n", message_id);
        }
    }
    amqp_client_close(client);
    if (msg)
        pn_message_free(msg);
    free(file_body);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * iothub c2d feedback */

/* The body bytes of a feedback message: a data section (what the hub sends) or a string. */
static bool message_body(pn_message_t *msg, const char **body, size_t *len)
{
    pn_data_t *b = pn_message_body(msg);
    pn_data_rewind(b);
    if (!pn_data_next(b))
        return false;
    pn_type_t t = pn_data_type(b);
    if (t != PN_BINARY && t != PN_STRING)
        return false;
    pn_bytes_t v = pn_data_get_bytes(b);
    *body = v.start;
    *len = v.size;
    return true;
}

/* Prints the records of one feedback message. Returns how many, or -1 (not a feedback body:
 * the message is rejected, which drops it). */
static long print_feedback(bool json, pn_message_t *msg)
{
    const char *body;
    size_t len;
    char why[512];
    struct c2d_feedback_batch batch;
    if (!msg || !message_body(msg, &body, &len)) {
        fprintf(stderr, "warning: a feedback message without a data body; rejected\n");
        return -1;
    }
    if (c2d_feedback_parse(body, len, &batch, why, sizeof(why)) != 0) {
        fprintf(stderr, "warning: %s; rejected\n", why);
        return -1;
    }
    for (size_t i = 0; i < batch.count; i++) {
        if (json) {
            json_t *j = c2d_feedback_record_json(&batch.records[i]);
            char *line =
                j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | CLI_JSON_REAL) : NULL;
            if (line)
                printf("%s\n", line);
            free(line);
            json_decref(j);
        } else {
            char line[2048];
            printf("%s\n", c2d_feedback_record_line(&batch.records[i], line, sizeof(line)));
        }
    }
    fflush(stdout);
    long n = (long)batch.count;
    c2d_feedback_batch_free(&batch);
    return n;
}

static int c2d_feedback(struct cli *cli, int argc, char **argv)
{
    long count = 0, timeout = 0, amqp_port = AMQP_CLIENT_PORT;
    const struct opt opts[] = {
        OPT_LONG("count", "N", &count, 1, 1000000000, "stop after N records"),
        OPT_LONG("timeout", "S", &timeout, 1, 86400 * 365,
                 "stop after S seconds without feedback (default: run until stopped)"),
        OPT_LONG("amqp-port", "N", &amqp_port, 1, 65535, "the hub's AMQP port (default: 5671)"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub c2d feedback",
        .args = "[options]",
        .description =
            "Print the delivery feedback of cloud-to-device messages sent with --ack\n"
            "(AMQP link /messages/serviceBound/feedback), one record per line:\n"
            "  ORIGINAL_MESSAGE_ID  STATUS  DEVICE_ID  ENQUEUED_TIME  DESCRIPTION\n"
            "STATUS is Success, Expired, DeliveryCountExceeded, Rejected or Purged. --json\n"
            "prints one JSON object per record and line. Each feedback message is accepted\n"
            "(removed from the hub) after its records are printed. Stops after --count\n"
            "records (all records of the last message are printed) or --timeout seconds\n"
            "without feedback; exits 6 when --timeout ends it before --count records came.\n"
            "The login's policy needs ServiceConnect.",
        .examples = "  iothub c2d feedback --timeout 60\n"
                    "  iothub --json c2d feedback --count 1 --timeout 30\n",
        .min_args = 0,
        .max_args = 0,
        .groups = groups,
    };
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);

    char host[CLI_HOST_MAX];
    struct amqp_client_options o;
    struct amqp_client *client = NULL;
    int rc = amqp_login(cli, amqp_port, &o, host, sizeof(host));
    if (rc == CLI_EXIT_OK)
        rc = amqp_client_open(&o, &client);
    pn_link_t *receiver = NULL;
    if (rc == CLI_EXIT_OK)
        rc = amqp_client_attach_receiver(client, FEEDBACK_ADDRESS, 1, &receiver);
    long printed = 0;
    int64_t wait_ms = timeout > 0 ? (int64_t)timeout * 1000 : INT64_MAX / 4;
    while (rc == CLI_EXIT_OK && (count == 0 || printed < count)) {
        struct amqp_received r;
        int got = amqp_client_receive(client, receiver, wait_ms, &r);
        if (got == AMQP_CLIENT_TIMED_OUT) {
            if (count > 0) {
                fprintf(stderr,
                        "error: %ld of %ld feedback records arrived before %ld s passed "
                        "without feedback\n",
                        printed, count, timeout);
                rc = CLI_EXIT_UNREACHABLE;
            }
            break;
        }
        if (got != CLI_EXIT_OK) {
            rc = got;
            break;
        }
        long records = print_feedback(cli->json, r.message);
        amqp_client_settle(client, &r, records < 0 ? PN_REJECTED : PN_ACCEPTED);
        amqp_received_free(&r);
        if (records > 0)
            printed += records;
    }
    amqp_client_close(client);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * iothub c2d */

static const struct cli_command c2d_commands[] = {
    {"send", "send a cloud-to-device message to a device", c2d_send},
    {"feedback", "print the delivery feedback of sent messages", c2d_feedback},
    {NULL, NULL, NULL},
};

static void c2d_help_commands(FILE *out)
{
    cli_commands_help(out, "Commands", c2d_commands);
}

int cmd_c2d(struct cli *cli, int argc, char **argv)
{
    const struct opt_group groups[] = {{"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub c2d",
        .args = "<command> [options]",
        .description = "Send cloud-to-device messages and read their delivery feedback, over the\n"
                       "hub's AMQP endpoint (port 5671) as the service SDKs do.",
        .min_args = 0,
        .max_args = -1,
        .flags = OPT_STOP_AT_NON_OPTION,
        .groups = groups,
        .help_extra = c2d_help_commands,
    };
    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (n == 0)
        return cli_opt_exit(opt_error(&cmd, "missing command"));
    return cli_dispatch(cli, c2d_commands, &cmd, n, argv);
}
