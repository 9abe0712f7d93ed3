/* iothub-bench command line. */
#ifndef IOTHUB_BENCH_OPTS_H
#define IOTHUB_BENCH_OPTS_H

#include <stdbool.h>

struct bench_opts {
    const char *host; /* where to connect (MQTT and REST) */
    int port;
    bool tls;
    const char *cafile;
    const char *hostname; /* the hub's name in usernames and SAS tokens */
    const char *device_prefix;
    int devices;         /* devices to create or use; connection i uses device i % devices */
    int connections;     /* 0 with --create-only */
    double connect_rate; /* new connections per second, all threads (0 = no limit) */
    int max_pending;     /* connection attempts in progress at once, all threads */
    double connect_timeout;
    int keepalive; /* seconds, sent in CONNECT */
    int qos;
    int inflight; /* QoS 1 window per connection */
    double rate;  /* messages per second, all connections (0 = as fast as possible) */
    int payload_size;
    double duration, warmup, drain; /* seconds */
    int threads;
    bool idle;
    bool no_auth;
    const char *username, *password; /* --no-auth only */
    bool create_devices, create_only;
    const char *hub_cs;
    int rest_port;
    int create_concurrency;
    const char *keys_file;
    const char *ready_file;
    const char *label;
    int server_pid; /* sample its CPU and memory; 0 = none */
};

/* Parses argv into o. Returns 0, 1 after printing help (exit 0), or -1 after an error
 * message (exit 2). */
int opts_parse(int argc, char **argv, struct bench_opts *o);

#endif
