/* iothub sas-token: shared access signatures (spec 1.2, 1.3). */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "common/device.h"
#include "common/sas.h"
#include "common/strbuf.h"
#include "hub.h"
#include "output.h"

#define SAS_DEFAULT_DURATION 3600L
#define SAS_MAX_DURATION     (10L * 365 * 24 * 3600) /* ten years */
#define SAS_KEY_CAP          (DEVICE_KEY_MAX + 1)

/* What the token is made of, once the options have been resolved. */
struct sas_plan {
    const char *resource; /* not yet encoded */
    const char *policy;   /* skn, NULL for device tokens */
    char key[SAS_KEY_CAP + 1024];
    char resource_buf[1024 + DEVICE_ID_MAX * 3 + 16];
};

/* Fetches the device's primary key from the hub. */
static int device_key(struct hub *hub, const char *id, char *out, size_t cap)
{
    char path[sizeof("/devices/") + 3 * 1024 + 1];
    json_t *dev = NULL;
    if (hub_path(path, sizeof(path), "/devices/", id, NULL) != 0) {
        fprintf(stderr, "error: the device id is too long\n");
        return CLI_EXIT_USAGE;
    }
    int rc = hub_call(hub, "GET", path, NULL, NULL, &dev);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *type = output_json_str(dev, "authentication.type");
    const char *key = output_json_str(dev, "authentication.symmetricKey.primaryKey");
    if (!type || strcmp(type, "sas") != 0) {
        fprintf(stderr, "error: device '%s' does not use symmetric keys (auth type %s)\n", id,
                type ? type : "unknown");
        rc = CLI_EXIT_ERROR;
    } else if (!key || key[0] == '\0' || strlen(key) >= cap) {
        fprintf(stderr, "error: device '%s' has no usable primary key\n", id);
        rc = CLI_EXIT_ERROR;
    } else {
        memcpy(out, key, strlen(key) + 1);
    }
    json_decref(dev);
    return rc;
}

static int print_token(const struct cli *cli, const struct sas_plan *plan, const char *token,
                       long long expiry)
{
    if (!cli->json) {
        printf("%s\n", token);
        return CLI_EXIT_OK;
    }
    json_t *o = json_pack("{s:s, s:s, s:s?, s:I}", "sharedAccessSignature", token, "resource",
                          plan->resource, "policy", plan->policy, "expiry", (json_int_t)expiry);
    int rc = CLI_EXIT_ERROR;
    if (!o)
        fprintf(stderr, "error: out of memory\n");
    else if (output_json(stdout, o) == 0)
        rc = CLI_EXIT_OK; /* a failed write is reported by main() */
    json_decref(o);
    return rc;
}

int cmd_sas_token(struct cli *cli, int argc, char **argv)
{
    const char *resource = NULL, *policy = NULL, *device = NULL, *key = NULL;
    long duration = SAS_DEFAULT_DURATION;
    const struct opt opts[] = {
        OPT_STRING("resource", "URI", &resource,
                   "resource to sign (default: the hub's host name, or <host>/devices/<id>)"),
        OPT_STRING("policy", "NAME", &policy,
                   "sign with this shared access policy (default: the login's)"),
        OPT_STRING("device", "ID", &device, "sign with this device's primary key"),
        OPT_STRING("key", "KEY", &key,
                   "key (base64) of --policy or --device, instead of the login's or the hub's"),
        OPT_LONG("duration", "SECONDS", &duration, 1, SAS_MAX_DURATION,
                 "validity from now (default: 3600)"),
        OPT_END(),
    };
    const struct opt_group groups[] = {
        {"Options", opts}, {"Global options", cli->global_opts}, {NULL, NULL}};
    const struct opt_cmd cmd = {
        .name = "iothub sas-token",
        .args = "[options]",
        .description =
            "Print a shared access signature token:\n"
            "  SharedAccessSignature sr=<resource>&sig=<signature>&se=<expiry>[&skn=<policy>]\n"
            "By default it is a service token for the hub's host name, signed with the\n"
            "login's policy key. With --device it is a device token for <host>/devices/<id>,\n"
            "signed with that device's primary key (fetched from the hub unless --key is\n"
            "given). --json prints {\"sharedAccessSignature\", \"resource\", \"policy\", "
            "\"expiry\"}.",
        .examples = "  iothub sas-token\n"
                    "  iothub sas-token --device sensor-1 --duration 86400\n"
                    "  iothub sas-token --policy service --key \"$SERVICE_KEY\"\n",
        .min_args = 0,
        .max_args = 0,
        .groups = groups,
    };
    char token[SAS_TOKEN_MAX];
    struct sas_plan *plan = NULL;
    struct hub *hub = NULL;
    int rc;

    int n = opt_parse(&cmd, argc, argv);
    if (n < 0)
        return cli_opt_exit(n);
    if (policy && device)
        return cli_opt_exit(opt_error(&cmd, "'--policy' and '--device' cannot be used together"));
    if (key && !policy && !device)
        return cli_opt_exit(opt_error(&cmd, "'--key' needs '--policy' or '--device'"));
    if ((policy && policy[0] == '\0') || (device && device[0] == '\0') ||
        (resource && resource[0] == '\0'))
        return cli_opt_exit(opt_error(&cmd, "empty option value"));
    if (key && strlen(key) >= SAS_KEY_CAP)
        return cli_opt_exit(opt_error(&cmd, "'--key' is too long"));

    plan = calloc(1, sizeof(*plan));
    if (!plan) {
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    /* The login is needed for the host name (default resource) and for keys not given. */
    if (!(resource && key)) {
        rc = cli_hub(cli, &hub);
        if (rc != CLI_EXIT_OK)
            goto out_free;
    }

    rc = CLI_EXIT_USAGE;
    plan->resource = resource;
    if (device) {
        plan->policy = NULL;
        if (!resource) {
            int len = snprintf(plan->resource_buf, sizeof(plan->resource_buf), "%s/devices/%s",
                               hub_host(hub), device);
            if (len < 0 || (size_t)len >= sizeof(plan->resource_buf)) {
                opt_error(&cmd, "the device id is too long");
                goto out_free;
            }
            plan->resource = plan->resource_buf;
        }
        if (key) {
            str_copy(plan->key, sizeof(plan->key), key);
        } else {
            rc = device_key(hub, device, plan->key, sizeof(plan->key));
            if (rc != CLI_EXIT_OK)
                goto out_free;
        }
    } else {
        plan->policy = policy ? policy : hub_policy(hub);
        if (!resource)
            plan->resource = hub_host(hub);
        if (key) {
            str_copy(plan->key, sizeof(plan->key), key);
        } else if (strcasecmp(plan->policy, hub_policy(hub)) == 0) {
            str_copy(plan->key, sizeof(plan->key), hub_key(hub));
        } else {
            opt_error(&cmd,
                      "no key for policy '%s': give it with --key (the login's policy is "
                      "'%s')",
                      plan->policy, hub_policy(hub));
            goto out_free;
        }
    }

    long long expiry = (long long)time(NULL) + duration;
    if (sas_build(plan->resource, plan->key, plan->policy, (int64_t)expiry, token, sizeof(token)) <
        0) {
        fprintf(stderr, "error: cannot build the token: the key is not base64 or the resource "
                        "is too long\n");
        rc = key ? CLI_EXIT_USAGE : CLI_EXIT_ERROR;
        goto out_free;
    }
    rc = print_token(cli, plan, token, expiry);

out_free:
    OPENSSL_cleanse(token, sizeof(token));
    if (plan) {
        OPENSSL_cleanse(plan->key, sizeof(plan->key));
        free(plan);
    }
    return rc;
}
