#include "opts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: iothub-bench [OPTIONS]\n"
    "\n"
    "MQTT 3.1.1 load generator for iothubd (and other brokers). Opens N connections at a\n"
    "given rate, publishes telemetry at QoS 0 or 1, and prints a JSON summary on stdout.\n"
    "\n"
    "Target:\n"
    "  --host HOST            address to connect to (default localhost)\n"
    "  --port PORT            MQTT port (default 8883 with --tls, else 1883)\n"
    "  --tls                  connect with TLS\n"
    "  --cafile FILE          CA to verify the server against (else no verification)\n"
    "Devices (iothubd's SAS authentication):\n"
    "  --devices N            devices to use; connection i uses device i mod N (default:\n"
    "                         --connections)\n"
    "  --device-prefix P      device ids are P0, P1, ... (default bench-)\n"
    "  --keys-file FILE       read 'deviceId key' lines (or write them with --create-devices)\n"
    "  --create-devices       create the devices over the REST API (existing ones are read)\n"
    "  --hub-cs CS            iothubowner connection string, for --create-devices\n"
    "  --rest-port PORT       REST API port (default 443)\n"
    "  --create-concurrency N parallel REST requests (default 16)\n"
    "  --create-only          create the devices, write --keys-file, and exit\n"
    "  --hostname NAME        hub name in usernames and tokens (default: HostName of\n"
    "                         --hub-cs, else localhost)\n"
    "  --no-auth              plain broker: client id P<n>, optional --username/--password\n"
    "  --username U, --password P\n"
    "Load:\n"
    "  --connections N        MQTT connections (default 1)\n"
    "  --connect-rate R       new connections per second (default 2000; 0 = no limit)\n"
    "  --max-pending N        connection attempts in progress at once (default 256)\n"
    "  --connect-timeout S    CONNACK deadline per connection (default 30)\n"
    "  --keepalive S          MQTT keep-alive sent in CONNECT (default 60)\n"
    "  --qos 0|1              (default 1)\n"
    "  --inflight W           unacknowledged QoS 1 messages per connection (default 16)\n"
    "  --rate R               messages per second over all connections (default 0 = as\n"
    "                         fast as the window allows)\n"
    "  --payload-size B       (default 256)\n"
    "  --warmup S             publish this long after the last connection before measuring\n"
    "                         (default 2)\n"
    "  --duration S           measured time (default 10)\n"
    "  --drain S              wait this long for outstanding PUBACKs at the end (default 5)\n"
    "  --idle                 connect, hold for --duration without publishing, disconnect\n"
    "  --threads T            worker threads (default 1)\n"
    "  --ready-file FILE      create FILE once every connection is up (or has failed)\n"
    "  --label TEXT           copied into the JSON summary\n"
    "  --server-pid PID       report the server's CPU time in the window and its memory\n"
    "                         (VmRSS) before connecting and in the window (same machine)\n"
    "  --help\n";

enum {
    O_HOST = 256,
    O_PORT,
    O_TLS,
    O_CAFILE,
    O_DEVICES,
    O_PREFIX,
    O_KEYS,
    O_CREATE,
    O_HUBCS,
    O_RESTPORT,
    O_CREATECONC,
    O_CREATEONLY,
    O_HOSTNAME,
    O_NOAUTH,
    O_USER,
    O_PASS,
    O_CONNS,
    O_CRATE,
    O_PENDING,
    O_CTIMEOUT,
    O_KEEPALIVE,
    O_QOS,
    O_INFLIGHT,
    O_RATE,
    O_PAYLOAD,
    O_WARMUP,
    O_DURATION,
    O_DRAIN,
    O_IDLE,
    O_THREADS,
    O_READY,
    O_LABEL,
    O_SERVERPID,
    O_HELP,
};

static const struct option long_opts[] = {
    {"host", required_argument, NULL, O_HOST},
    {"port", required_argument, NULL, O_PORT},
    {"tls", no_argument, NULL, O_TLS},
    {"cafile", required_argument, NULL, O_CAFILE},
    {"devices", required_argument, NULL, O_DEVICES},
    {"device-prefix", required_argument, NULL, O_PREFIX},
    {"keys-file", required_argument, NULL, O_KEYS},
    {"create-devices", no_argument, NULL, O_CREATE},
    {"hub-cs", required_argument, NULL, O_HUBCS},
    {"rest-port", required_argument, NULL, O_RESTPORT},
    {"create-concurrency", required_argument, NULL, O_CREATECONC},
    {"create-only", no_argument, NULL, O_CREATEONLY},
    {"hostname", required_argument, NULL, O_HOSTNAME},
    {"no-auth", no_argument, NULL, O_NOAUTH},
    {"username", required_argument, NULL, O_USER},
    {"password", required_argument, NULL, O_PASS},
    {"connections", required_argument, NULL, O_CONNS},
    {"connect-rate", required_argument, NULL, O_CRATE},
    {"max-pending", required_argument, NULL, O_PENDING},
    {"connect-timeout", required_argument, NULL, O_CTIMEOUT},
    {"keepalive", required_argument, NULL, O_KEEPALIVE},
    {"qos", required_argument, NULL, O_QOS},
    {"inflight", required_argument, NULL, O_INFLIGHT},
    {"rate", required_argument, NULL, O_RATE},
    {"payload-size", required_argument, NULL, O_PAYLOAD},
    {"warmup", required_argument, NULL, O_WARMUP},
    {"duration", required_argument, NULL, O_DURATION},
    {"drain", required_argument, NULL, O_DRAIN},
    {"idle", no_argument, NULL, O_IDLE},
    {"threads", required_argument, NULL, O_THREADS},
    {"ready-file", required_argument, NULL, O_READY},
    {"label", required_argument, NULL, O_LABEL},
    {"server-pid", required_argument, NULL, O_SERVERPID},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static int num(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "iothub-bench: %s wants a number from %g to %g, not '%s'\n", flag, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

static int integer(const char *flag, const char *s, int lo, int hi, int *out)
{
    double v;
    if (num(flag, s, lo, hi, &v) != 0)
        return -1;
    if (v != (int)v) {
        fprintf(stderr, "iothub-bench: %s wants a whole number, not '%s'\n", flag, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void defaults(struct bench_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->host = "localhost";
    o->port = -1;
    o->device_prefix = "bench-";
    o->devices = -1;
    o->connections = 1;
    o->connect_rate = 2000;
    o->max_pending = 256;
    o->connect_timeout = 30;
    o->keepalive = 60;
    o->qos = 1;
    o->inflight = 16;
    o->payload_size = 256;
    o->warmup = 2;
    o->duration = 10;
    o->drain = 5;
    o->threads = 1;
    o->rest_port = 443;
    o->create_concurrency = 16;
}

static int one(struct bench_opts *o, int c, const char *a)
{
    switch (c) {
    case O_HOST:
        o->host = a;
        return 0;
    case O_PORT:
        return integer("--port", a, 1, 65535, &o->port);
    case O_TLS:
        o->tls = true;
        return 0;
    case O_CAFILE:
        o->cafile = a;
        return 0;
    case O_DEVICES:
        return integer("--devices", a, 1, 10000000, &o->devices);
    case O_PREFIX:
        o->device_prefix = a;
        return 0;
    case O_KEYS:
        o->keys_file = a;
        return 0;
    case O_CREATE:
        o->create_devices = true;
        return 0;
    case O_HUBCS:
        o->hub_cs = a;
        return 0;
    case O_RESTPORT:
        return integer("--rest-port", a, 1, 65535, &o->rest_port);
    case O_CREATECONC:
        return integer("--create-concurrency", a, 1, 1024, &o->create_concurrency);
    case O_CREATEONLY:
        o->create_only = true;
        return 0;
    case O_HOSTNAME:
        o->hostname = a;
        return 0;
    case O_NOAUTH:
        o->no_auth = true;
        return 0;
    case O_USER:
        o->username = a;
        return 0;
    case O_PASS:
        o->password = a;
        return 0;
    case O_CONNS:
        return integer("--connections", a, 0, 10000000, &o->connections);
    case O_CRATE:
        return num("--connect-rate", a, 0, 1e9, &o->connect_rate);
    case O_PENDING:
        return integer("--max-pending", a, 1, 1000000, &o->max_pending);
    case O_CTIMEOUT:
        return num("--connect-timeout", a, 0.1, 3600, &o->connect_timeout);
    case O_KEEPALIVE:
        return integer("--keepalive", a, 0, 65535, &o->keepalive);
    case O_QOS:
        return integer("--qos", a, 0, 1, &o->qos);
    case O_INFLIGHT:
        return integer("--inflight", a, 1, 32768, &o->inflight);
    case O_RATE:
        return num("--rate", a, 0, 1e9, &o->rate);
    case O_PAYLOAD:
        return integer("--payload-size", a, 0, 256 * 1024, &o->payload_size);
    case O_WARMUP:
        return num("--warmup", a, 0, 86400, &o->warmup);
    case O_DURATION:
        return num("--duration", a, 0.1, 86400 * 7, &o->duration);
    case O_DRAIN:
        return num("--drain", a, 0, 3600, &o->drain);
    case O_IDLE:
        o->idle = true;
        return 0;
    case O_THREADS:
        return integer("--threads", a, 1, 256, &o->threads);
    case O_READY:
        o->ready_file = a;
        return 0;
    case O_LABEL:
        o->label = a;
        return 0;
    case O_SERVERPID:
        return integer("--server-pid", a, 1, 1 << 30, &o->server_pid);
    default:
        return -1;
    }
}

static int check(struct bench_opts *o)
{
    if (o->port < 0)
        o->port = o->tls ? 8883 : 1883;
    if (o->devices < 0)
        o->devices = o->connections > 0 ? o->connections : 1;
    if (o->create_devices && !o->hub_cs) {
        fprintf(stderr, "iothub-bench: --create-devices needs --hub-cs\n");
        return -1;
    }
    if (o->create_only && !o->create_devices) {
        fprintf(stderr, "iothub-bench: --create-only needs --create-devices\n");
        return -1;
    }
    if (o->no_auth && (o->create_devices || o->keys_file)) {
        fprintf(stderr, "iothub-bench: --no-auth excludes --create-devices and --keys-file\n");
        return -1;
    }
    if (!o->no_auth && !o->create_devices && !o->keys_file) {
        fprintf(stderr, "iothub-bench: give --keys-file, --create-devices or --no-auth\n");
        return -1;
    }
    if ((o->username || o->password) && !o->no_auth) {
        fprintf(stderr, "iothub-bench: --username and --password go with --no-auth\n");
        return -1;
    }
    if (!o->create_only && o->connections == 0) {
        fprintf(stderr, "iothub-bench: --connections 0 only with --create-only\n");
        return -1;
    }
    if (o->threads > o->connections && o->connections > 0)
        o->threads = o->connections;
    return 0;
}

int opts_parse(int argc, char **argv, struct bench_opts *o)
{
    defaults(o);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (c == O_HELP) {
            fputs(usage_text, stdout);
            return 1;
        }
        if (c == '?' || c == ':') {
            fprintf(stderr, "iothub-bench: bad option %s (try --help)\n", argv[optind - 1]);
            return -1;
        }
        if (one(o, c, optarg) != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "iothub-bench: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    return check(o);
}
