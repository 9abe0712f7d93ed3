#include "hub/config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: iothubd [OPTIONS]\n"
    "\n"
    "A self-hosted IoT hub, wire-compatible with Azure IoT Hub. Starts with zero\n"
    "configuration: on first start it creates the data directory, a CA and a server\n"
    "certificate, and the five default shared access policies, then prints the\n"
    "iothubowner connection string and the CA file that clients must trust.\n"
    "\n"
    "Options:\n"
    "  --data-dir DIR        where the hub keeps its state (default ./iothubd-data)\n"
    "  --hostname NAME       the hub's host name, as in HostName= of connection strings\n"
    "                        (default: the one used last time, else localhost)\n"
    "  --host-alias NAME     another name clients may use for this hub (repeatable)\n"
    "  --bind ADDR           address to listen on (default :: = every IPv4 and IPv6 address)\n"
    "  --https-port PORT     service REST API and device HTTPS (default 443, 0 = off)\n"
    "  --mqtt-port PORT      device MQTT over TLS (default 8883, 0 = off)\n"
    "  --mqtt-plain-port PORT\n"
    "                        device MQTT without TLS, for development and benchmarks\n"
    "                        (default off)\n"
    "  --amqp-port PORT      AMQP 1.0 over TLS: the Event Hubs-compatible endpoint and\n"
    "                        the service's cloud-to-device and feedback links\n"
    "                        (default 5671, 0 = off)\n"
    "  --amqp-plain-port PORT\n"
    "                        AMQP 1.0 without TLS, for development and benchmarks\n"
    "                        (default off)\n"
    "  --partitions N        event log partitions, 1 to 32 (default 4); fixed when the hub\n"
    "                        is created\n"
    "  --retention-age AGE   keep telemetry this long: 90s, 30m, 12h, 7d (default 1d)\n"
    "  --retention-size SIZE cap each partition at SIZE bytes: 512M, 10G (default: no cap)\n"
    "  --c2d-feedback-delay-ms MS\n"
    "                        send cloud-to-device delivery feedback once a record has waited\n"
    "                        MS milliseconds, or at once when 64 are waiting (default 15000,\n"
    "                        as the hosted service; 0 = at once)\n"
    "  --durability MODE     fsync (default: a PUBACK means the message is on disk) or\n"
    "                        none (no fdatasync; for benchmarks only, loses data on a crash)\n"
    "  --tls-cert FILE       server certificate chain (PEM) to use instead of the generated one\n"
    "  --tls-key FILE        its private key (PEM); needs --tls-cert\n"
    "  --threads N           network threads (default: one per core)\n"
    "  --busy-poll-us US     after answering a device that streams alone on its network\n"
    "                        thread, keep that thread polling for its next messages up to\n"
    "                        US microseconds instead of sleeping, while the device's answers\n"
    "                        come that fast: lower latency and more messages per second for\n"
    "                        such a device, for some CPU (default 100, 0 = off, max 10000)\n"
    "  --log-level LEVEL     debug, info, warn or error (default info)\n"
    "  --print-connection-string [POLICY]\n"
    "                        print the connection string of POLICY (default iothubowner)\n"
    "                        from the data directory and exit\n"
    "  --dump-events         print every stored telemetry record as a JSON line and exit\n"
    "                        (stop the daemon first; for operators and tests)\n"
    "  --throttle-d2c-per-device RATE\n"
    "                        device-to-cloud messages per second per device (a device\n"
    "                        that reconnects keeps its bucket); above it the hub stops\n"
    "                        reading the device for a while (its PUBACKs come later)\n"
    "                        instead of dropping (default 0 = off)\n"
    "  --throttle-d2c-per-hub RATE\n"
    "                        the same over all devices together (default 0 = off)\n"
    "  --throttle-connects-per-hub RATE\n"
    "                        new device connections per second; above it CONNECT gets\n"
    "                        CONNACK 3, server unavailable, and the device retries\n"
    "                        (default 0 = off). Each rate allows a burst of one second.\n"
    "  --version             print the version and exit\n"
    "  --help                print this help and exit\n"
    "\n"
    "Logs go to stderr in logfmt. SIGINT or SIGTERM shut the hub down cleanly.\n";

enum {
    OPT_DATA_DIR = 256,
    OPT_HOSTNAME,
    OPT_HOST_ALIAS,
    OPT_BIND,
    OPT_HTTPS_PORT,
    OPT_MQTT_PORT,
    OPT_MQTT_PLAIN_PORT,
    OPT_AMQP_PORT,
    OPT_AMQP_PLAIN_PORT,
    OPT_PARTITIONS,
    OPT_RETENTION_AGE,
    OPT_RETENTION_SIZE,
    OPT_C2D_FEEDBACK_DELAY,
    OPT_DURABILITY,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_THREADS,
    OPT_BUSY_POLL_US,
    OPT_LOG_LEVEL,
    OPT_PRINT_CS,
    OPT_DUMP_EVENTS,
    OPT_THROTTLE_D2C_DEVICE,
    OPT_THROTTLE_D2C_HUB,
    OPT_THROTTLE_CONNECTS_HUB,
    OPT_VERSION,
    OPT_HELP,
};

static int parse_port(const char *flag, const char *value, int *out)
{
    char *end;
    long v = strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || v < 0 || v > 65535) {
        fprintf(stderr, "iothubd: %s wants a port number from 0 to 65535, not '%s'\n", flag, value);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* An operations-per-second rate for the --throttle-* flags: 0 (off) or 0.001 to 1e9. */
static int parse_rate(const char *flag, const char *value, double *out)
{
    char *end;
    double v = strtod(value, &end);
    if (*value == '\0' || *end != '\0' || !(v == 0 || (v >= 0.001 && v <= 1e9))) {
        fprintf(stderr,
                "iothubd: %s wants operations per second, 0 (off) or 0.001 to 1e9, not '%s'\n",
                flag, value);
        return -1;
    }
    *out = v;
    return 0;
}

struct unit {
    char suffix;
    int64_t scale;
};
static const struct unit age_units[] = {
    {'s', 1000}, {'m', 60 * 1000}, {'h', 3600 * 1000}, {'d', 24 * 3600 * 1000}, {0, 0}};
static const struct unit size_units[] = {{'K', 1024},
                                         {'M', 1024 * 1024},
                                         {'G', 1024LL * 1024 * 1024},
                                         {'T', 1024LL * 1024 * 1024 * 1024},
                                         {0, 0}};

/* "12h", "512M": a positive number with one suffix from units (or none = the first unit's
 * base for sizes, bytes; seconds for ages are required to carry a suffix). */
static int parse_scaled(const char *s, const struct unit *units, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0)
        return -1;
    if (*end == '\0')
        return units == size_units ? (*out = v, 0) : -1;
    for (const struct unit *u = units; u->suffix; u++)
        if (end[0] == u->suffix && end[1] == '\0') {
            if (v > INT64_MAX / u->scale)
                return -1;
            *out = v * u->scale;
            return 0;
        }
    return -1;
}

enum config_result config_parse(int argc, char **argv, struct hub_config *cfg)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"hostname", required_argument, NULL, OPT_HOSTNAME},
        {"host-alias", required_argument, NULL, OPT_HOST_ALIAS},
        {"bind", required_argument, NULL, OPT_BIND},
        {"https-port", required_argument, NULL, OPT_HTTPS_PORT},
        {"mqtt-port", required_argument, NULL, OPT_MQTT_PORT},
        {"mqtt-plain-port", required_argument, NULL, OPT_MQTT_PLAIN_PORT},
        {"amqp-port", required_argument, NULL, OPT_AMQP_PORT},
        {"amqp-plain-port", required_argument, NULL, OPT_AMQP_PLAIN_PORT},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"retention-age", required_argument, NULL, OPT_RETENTION_AGE},
        {"retention-size", required_argument, NULL, OPT_RETENTION_SIZE},
        {"c2d-feedback-delay-ms", required_argument, NULL, OPT_C2D_FEEDBACK_DELAY},
        {"durability", required_argument, NULL, OPT_DURABILITY},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"busy-poll-us", required_argument, NULL, OPT_BUSY_POLL_US},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"print-connection-string", optional_argument, NULL, OPT_PRINT_CS},
        {"dump-events", no_argument, NULL, OPT_DUMP_EVENTS},
        {"throttle-d2c-per-device", required_argument, NULL, OPT_THROTTLE_D2C_DEVICE},
        {"throttle-d2c-per-hub", required_argument, NULL, OPT_THROTTLE_D2C_HUB},
        {"throttle-connects-per-hub", required_argument, NULL, OPT_THROTTLE_CONNECTS_HUB},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(cfg, 0, sizeof(*cfg));
    cfg->data_dir = "./iothubd-data";
    cfg->bind_address = "::";
    cfg->https_port = 443;
    cfg->mqtt_port = 8883;
    cfg->amqp_port = 5671;
    cfg->retention_ms = 24LL * 3600 * 1000;
    cfg->c2d_feedback_delay_ms = 15000;
    cfg->log_level = "info";
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = cores > 0 ? (int)cores : 1;
    cfg->busy_poll_us = 100;

    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case OPT_DATA_DIR:
            cfg->data_dir = optarg;
            break;
        case OPT_HOSTNAME:
            cfg->hostname = optarg;
            break;
        case OPT_HOST_ALIAS:
            if (cfg->alias_count == CONFIG_MAX_ALIASES) {
                fprintf(stderr, "iothubd: at most %d --host-alias flags\n", CONFIG_MAX_ALIASES);
                return CONFIG_EXIT_USAGE;
            }
            cfg->aliases[cfg->alias_count++] = optarg;
            break;
        case OPT_BIND:
            cfg->bind_address = optarg;
            break;
        case OPT_HTTPS_PORT:
            if (parse_port("--https-port", optarg, &cfg->https_port) != 0)
                return CONFIG_EXIT_USAGE;
            break;
        case OPT_MQTT_PORT:
            if (parse_port("--mqtt-port", optarg, &cfg->mqtt_port) != 0)
                return CONFIG_EXIT_USAGE;
            break;
        case OPT_MQTT_PLAIN_PORT:
            if (parse_port("--mqtt-plain-port", optarg, &cfg->mqtt_plain_port) != 0)
                return CONFIG_EXIT_USAGE;
            break;
        case OPT_AMQP_PORT:
            if (parse_port("--amqp-port", optarg, &cfg->amqp_port) != 0)
                return CONFIG_EXIT_USAGE;
            break;
        case OPT_AMQP_PLAIN_PORT:
            if (parse_port("--amqp-plain-port", optarg, &cfg->amqp_plain_port) != 0)
                return CONFIG_EXIT_USAGE;
            break;
        case OPT_PARTITIONS: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 32) {
                fprintf(stderr, "iothubd: --partitions wants a number from 1 to 32, not '%s'\n",
                        optarg);
                return CONFIG_EXIT_USAGE;
            }
            cfg->partitions = (unsigned)v;
            break;
        }
        case OPT_RETENTION_AGE:
            if (parse_scaled(optarg, age_units, &cfg->retention_ms) != 0 ||
                cfg->retention_ms < 1000) {
                fprintf(stderr,
                        "iothubd: --retention-age wants an age like 90s, 30m, 12h or 7d, not "
                        "'%s'\n",
                        optarg);
                return CONFIG_EXIT_USAGE;
            }
            break;
        case OPT_RETENTION_SIZE: {
            int64_t bytes;
            if (parse_scaled(optarg, size_units, &bytes) != 0) {
                fprintf(stderr,
                        "iothubd: --retention-size wants a size like 512M or 10G, not '%s'\n",
                        optarg);
                return CONFIG_EXIT_USAGE;
            }
            cfg->retention_bytes = (uint64_t)bytes;
            break;
        }
        case OPT_C2D_FEEDBACK_DELAY: {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 0 || v > 3600000) {
                fprintf(stderr,
                        "iothubd: --c2d-feedback-delay-ms wants milliseconds from 0 to 3600000, "
                        "not '%s'\n",
                        optarg);
                return CONFIG_EXIT_USAGE;
            }
            cfg->c2d_feedback_delay_ms = v;
            break;
        }
        case OPT_DURABILITY:
            if (strcmp(optarg, "fsync") == 0) {
                cfg->durability_none = false;
            } else if (strcmp(optarg, "none") == 0) {
                cfg->durability_none = true;
            } else {
                fprintf(stderr, "iothubd: --durability wants fsync or none, not '%s'\n", optarg);
                return CONFIG_EXIT_USAGE;
            }
            break;
        case OPT_TLS_CERT:
            cfg->tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            cfg->tls_key = optarg;
            break;
        case OPT_THREADS: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 256) {
                fprintf(stderr, "iothubd: --threads wants a number from 1 to 256, not '%s'\n",
                        optarg);
                return CONFIG_EXIT_USAGE;
            }
            cfg->threads = (int)v;
            break;
        }
        case OPT_BUSY_POLL_US: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 0 || v > 10000) {
                fprintf(stderr,
                        "iothubd: --busy-poll-us wants microseconds from 0 (off) to 10000, not "
                        "'%s'\n",
                        optarg);
                return CONFIG_EXIT_USAGE;
            }
            cfg->busy_poll_us = (int)v;
            break;
        }
        case OPT_LOG_LEVEL:
            cfg->log_level = optarg;
            break;
        case OPT_PRINT_CS:
            cfg->print_only = true;
            /* Accept both --print-connection-string=POLICY and "... POLICY". */
            if (optarg)
                cfg->print_connection_string = optarg;
            else if (optind < argc && argv[optind][0] != '-')
                cfg->print_connection_string = argv[optind++];
            else
                cfg->print_connection_string = "iothubowner";
            break;
        case OPT_DUMP_EVENTS:
            cfg->dump_events = true;
            break;
        case OPT_THROTTLE_D2C_DEVICE:
            if (parse_rate("--throttle-d2c-per-device", optarg, &cfg->throttle_d2c_device) != 0)
                return CONFIG_EXIT_USAGE;
            break;
        case OPT_THROTTLE_D2C_HUB:
            if (parse_rate("--throttle-d2c-per-hub", optarg, &cfg->throttle_d2c_hub) != 0)
                return CONFIG_EXIT_USAGE;
            break;
        case OPT_THROTTLE_CONNECTS_HUB:
            if (parse_rate("--throttle-connects-per-hub", optarg, &cfg->throttle_connects_hub) != 0)
                return CONFIG_EXIT_USAGE;
            break;
        case OPT_VERSION:
            printf("iothubd %s\n", IOTHUB_VERSION);
            return CONFIG_EXIT_OK;
        case OPT_HELP:
            fputs(usage_text, stdout);
            return CONFIG_EXIT_OK;
        default:
            fprintf(stderr, "iothubd: unknown or incomplete option '%s'; see iothubd --help\n",
                    argv[optind - 1]);
            return CONFIG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "iothubd: unexpected argument '%s'; see iothubd --help\n", argv[optind]);
        return CONFIG_EXIT_USAGE;
    }
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        fprintf(stderr, "iothubd: --tls-cert and --tls-key go together\n");
        return CONFIG_EXIT_USAGE;
    }
    return CONFIG_RUN;
}
