/* Daemon configuration: command-line flags with their defaults. */
#ifndef IOTHUB_HUB_CONFIG_H
#define IOTHUB_HUB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_ALIASES 8

struct hub_config {
    const char *data_dir;                    /* --data-dir, default ./iothubd-data */
    const char *hostname;                    /* --hostname; NULL = remembered one or "localhost" */
    const char *aliases[CONFIG_MAX_ALIASES]; /* --host-alias, repeatable */
    size_t alias_count;
    const char *bind_address; /* --bind, default "::" (all, IPv4 and IPv6) */
    int https_port;           /* --https-port, default 443; 0 = off */
    int mqtt_port;            /* --mqtt-port, default 8883 (TLS); 0 = off */
    int mqtt_plain_port;      /* --mqtt-plain-port, default 0 = off */
    int amqp_port;            /* --amqp-port, default 5671 (TLS); 0 = off */
    int amqp_plain_port;      /* --amqp-plain-port, default 0 = off */
    unsigned partitions;      /* --partitions; 0 = not given (4 for a new hub) */
    int64_t retention_ms;     /* --retention-age, default 1 day */
    uint64_t retention_bytes; /* --retention-size per partition, default 0 = no cap */
    bool durability_none;     /* --durability none: no fdatasync (benchmarks only) */
    const char *tls_cert;     /* --tls-cert / --tls-key: bring your own */
    const char *tls_key;
    int threads;                         /* --threads, default: number of cores */
    int busy_poll_us;                    /* --busy-poll-us, default 100; 0 = off */
    const char *log_level;               /* --log-level, default info */
    const char *print_connection_string; /* --print-connection-string [POLICY] */
    bool print_only;
    bool dump_events; /* --dump-events: print the event log as JSON lines and exit */
    /* Throttles (hub/throttle.h), operations per second; 0 = off (the default). */
    double throttle_d2c_device;   /* --throttle-d2c-per-device */
    double throttle_d2c_hub;      /* --throttle-d2c-per-hub */
    double throttle_connects_hub; /* --throttle-connects-per-hub */
    /* --c2d-feedback-delay-ms: how long a feedback record waits to be batched (15000) */
    int64_t c2d_feedback_delay_ms;
};

enum config_result { CONFIG_RUN = 0, CONFIG_EXIT_OK = 1, CONFIG_EXIT_USAGE = 2 };

/* Parses argv into cfg (pointers into argv, which outlives cfg). Prints --help or a usage
 * error itself. */
enum config_result config_parse(int argc, char **argv, struct hub_config *cfg);

#endif
