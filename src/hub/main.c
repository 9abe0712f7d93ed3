/* iothubd: start-up, the wait for a signal, and a clean shutdown. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "hub/config.h"
#include "hub/amqp/endpoint.h"
#include "hub/dump_events.h"
#include "hub/hub.h"
#include "hub/mqtt/endpoint.h"
#include "hub/net/listener.h"
#include "hub/net/mailbox.h"
#include "hub/net/threads.h"
#include "hub/presence.h"
#include "hub/throttle.h"
#include "hub/tls/context.h"
#include "store/eventlog.h"

#define ERR_MAX 8192

static int make_data_dir(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* One daemon per data directory: a second one would corrupt nothing (SQLite locks) but
 * would fight over ports and the event log. --print-connection-string only reads, so it
 * runs beside a live daemon without the lock. */
static int lock_data_dir(struct hub *hub, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/lock", hub->cfg->data_dir);
    hub->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (hub->lock_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(hub->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen,
                 "another iothubd is running with the data directory %s; stop it or choose "
                 "another --data-dir",
                 hub->cfg->data_dir);
        return -1;
    }
    return 0;
}

/* The host name: the flag (remembered for next time), else the remembered one, else
 * localhost. The hub name is its first DNS label. */
static int resolve_hostname(struct hub *hub, char *err, size_t errlen)
{
    const char *flag = hub->cfg->hostname;
    if (flag) {
        if (!str_copy(hub->hostname, sizeof(hub->hostname), flag) || !*flag) {
            snprintf(err, errlen, "--hostname must be 1 to %d characters", HUB_NAME_MAX - 1);
            return -1;
        }
        if (registry_set_setting(hub->registry, "hostname", flag) != REG_OK) {
            snprintf(err, errlen, "cannot remember the host name in the registry");
            return -1;
        }
    } else if (registry_get_setting(hub->registry, "hostname", hub->hostname,
                                    sizeof(hub->hostname)) != REG_OK ||
               !hub->hostname[0]) {
        str_copy(hub->hostname, sizeof(hub->hostname), "localhost");
    }
    size_t label = strcspn(hub->hostname, ".:");
    str_copy_n(hub->hub_name, sizeof(hub->hub_name), hub->hostname, label);
    hub->names[hub->name_count++] = hub->hostname;
    for (size_t i = 0; i < hub->cfg->alias_count; i++)
        hub->names[hub->name_count++] = hub->cfg->aliases[i];
    return 0;
}

static int setup_tls(struct hub *hub, char *err, size_t errlen)
{
    const char *cert = hub->cfg->tls_cert, *key = hub->cfg->tls_key;
    if (!cert) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/tls", hub->cfg->data_dir);
        if (tls_certs_ensure(dir, hub->names, hub->name_count, &hub->tls, err, errlen) != 0)
            return -1;
        cert = hub->tls.server_cert;
        key = hub->tls.server_key;
    }
    hub->tls_cert_path = cert;
    hub->tls_key_path = key;
    hub->ssl_ctx = tls_server_context(cert, key, err, errlen);
    return hub->ssl_ctx ? 0 : -1;
}

static int open_registry(struct hub *hub, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/registry.db", hub->cfg->data_dir);
    hub->registry = registry_open(path, err, errlen);
    if (!hub->registry)
        return -1;
    if (registry_ensure_default_policies(hub->registry) != REG_OK) {
        snprintf(err, errlen, "cannot create the default shared access policies in %s", path);
        return -1;
    }
    return 0;
}

/* The partition count is fixed when the hub is created: remembered in the registry, and a
 * --partitions that disagrees later is an error rather than a silent re-hash. */
static int resolve_partitions(struct hub *hub, unsigned *out, char *err, size_t errlen)
{
    char stored[16] = "";
    registry_get_setting(hub->registry, "partitions", stored, sizeof(stored));
    unsigned flag = hub->cfg->partitions;
    if (stored[0]) {
        unsigned have = (unsigned)strtoul(stored, NULL, 10);
        if (flag && flag != have) {
            snprintf(err, errlen,
                     "this hub was created with %u partitions; --partitions %u cannot change "
                     "that (drop the flag, or use a new --data-dir)",
                     have, flag);
            return -1;
        }
        *out = have;
        return 0;
    }
    *out = flag ? flag : 4;
    snprintf(stored, sizeof(stored), "%u", *out);
    if (registry_set_setting(hub->registry, "partitions", stored) != REG_OK) {
        snprintf(err, errlen, "cannot remember the partition count in the registry");
        return -1;
    }
    return 0;
}

static int open_eventlog(struct hub *hub, char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/eventlog", hub->cfg->data_dir);
    unsigned partitions;
    if (resolve_partitions(hub, &partitions, err, errlen) != 0)
        return -1;
    struct eventlog_options opts = {
        .dir = dir,
        .partitions = partitions,
        .retention_ms = hub->cfg->retention_ms,
        .retention_bytes = hub->cfg->retention_bytes,
        .durability = hub->cfg->durability_none ? EVENTLOG_NONE : EVENTLOG_FSYNC,
        .batch_done = mailbox_wake_deferred, /* see on_appended in mqtt/handle_publish.c */
    };
    hub->eventlog = eventlog_open(&opts, err, errlen);
    if (!hub->eventlog)
        return -1;
    hub->presence = presence_new(hub->registry);
    if (!hub->presence) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Registry writes that change who may connect close live connections at once. */
static void on_registry_change(void *ctx, const char *device_id, enum registry_change change)
{
    struct hub *hub = ctx;
    if (!hub->mqtt)
        return;
    switch (change) {
    case REG_CHANGE_DISABLED:
        mqtt_endpoint_kick_device(hub->mqtt, device_id, "the device was disabled");
        break;
    case REG_CHANGE_DELETED:
        mqtt_endpoint_kick_device(hub->mqtt, device_id, "the device was deleted");
        break;
    case REG_CHANGE_CREDENTIALS:
        mqtt_endpoint_kick_device(hub->mqtt, device_id, "the device's credentials changed");
        break;
    default:
        break;
    }
}

static int open_mqtt(struct hub *hub, struct mqtt_endpoint *ep, char *err, size_t errlen)
{
    if (hub->cfg->mqtt_port <= 0 && hub->cfg->mqtt_plain_port <= 0)
        return 0;
    if (mqtt_endpoint_init(ep, hub, err, errlen) != 0) {
        mqtt_endpoint_free(ep);
        return -1;
    }
    hub->mqtt = ep;
    registry_set_change_listener(hub->registry, on_registry_change, hub);
    return 0;
}

/* AMQP endpoint (src/hub/amqp): the Event Hubs-compatible read side on --amqp-port. */
static int open_amqp(struct hub *hub, struct amqp_endpoint *ep, char *err, size_t errlen)
{
    if (hub->cfg->amqp_port <= 0 && hub->cfg->amqp_plain_port <= 0)
        return 0;
    hub->amqp = ep;
    return amqp_endpoint_init(ep, hub, err, errlen);
}

static void print_banner(const struct hub *hub)
{
    printf("iothubd %s is running.\n", IOTHUB_VERSION);
    printf("Hub connection string (iothubowner):\n  ");
    hub_print_connection_string(hub, "iothubowner");
    if (hub->tls.ca_cert[0])
        printf("CA certificate for clients to trust:\n  %s\n", hub->tls.ca_cert);
    if (hub->cfg->mqtt_port > 0)
        printf("Device MQTT: mqtts://%s:%d\n", hub->hostname, hub->cfg->mqtt_port);
    if (hub->cfg->mqtt_plain_port > 0)
        printf("Device MQTT without TLS (development only): mqtt://%s:%d\n", hub->hostname,
               hub->cfg->mqtt_plain_port);
    if (hub->cfg->amqp_port > 0) {
        printf("Event Hubs-compatible endpoint:\n  ");
        amqp_print_eventhub_connection_string(hub, "iothubowner");
        printf("AMQP: amqps://%s:%d\n", hub->hostname, hub->cfg->amqp_port);
    }
    if (hub->cfg->amqp_plain_port > 0)
        printf("AMQP without TLS (development only): amqp://%s:%d\n", hub->hostname,
               hub->cfg->amqp_plain_port);
    printf("Service REST API: https://%s:%d/\n", hub->hostname, hub->cfg->https_port);
    fflush(stdout);
}

static void on_signal(evutil_socket_t sig, short events, void *arg)
{
    (void)events;
    log_info("shutting down", "signal=%d", (int)sig);
    event_base_loopbreak(arg);
}

static void on_presence_timer(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    presence_flush(arg);
}

static int serve(struct hub *hub, char *err, size_t errlen)
{
    struct mqtt_endpoint mqtt;
    struct amqp_endpoint amqp;
    struct event *presence_timer = NULL;
    int rc = -1;
    if (open_eventlog(hub, err, errlen) != 0 || open_mqtt(hub, &mqtt, err, errlen) != 0 ||
        open_amqp(hub, &amqp, err, errlen) != 0)
        goto fail_early;
    if (hub->cfg->https_port > 0) {
        hub->https_fd = listener_open(hub->cfg->bind_address, hub->cfg->https_port, "--https-port",
                                      err, errlen);
        if (hub->https_fd < 0)
            goto fail_early;
    }
    hub->thread_count = hub->cfg->threads;

    struct event_base *main_base = event_base_new();
    struct event *sigint = main_base ? evsignal_new(main_base, SIGINT, on_signal, main_base) : NULL;
    struct event *sigterm =
        main_base ? evsignal_new(main_base, SIGTERM, on_signal, main_base) : NULL;
    if (net_threads_create(hub, err, errlen) != 0)
        goto out;
    if (!sigint || !sigterm || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0) {
        snprintf(err, errlen, "cannot install the SIGINT and SIGTERM handlers");
        goto out;
    }
    presence_timer = event_new(main_base, -1, EV_PERSIST, on_presence_timer, hub->presence);
    struct timeval second = {1, 0};
    if (!presence_timer || event_add(presence_timer, &second) != 0) {
        snprintf(err, errlen, "cannot start the presence timer");
        goto out;
    }
    if (net_threads_start(hub) != 0) {
        snprintf(err, errlen, "cannot start the network threads");
        goto out;
    }
    log_info("hub started",
             "hostname=%s https_port=%d mqtt_port=%d mqtt_plain_port=%d partitions=%u threads=%d "
             "data_dir=%s",
             hub->hostname, hub->cfg->https_port, hub->cfg->mqtt_port, hub->cfg->mqtt_plain_port,
             eventlog_partition_count(hub->eventlog), hub->thread_count, hub->cfg->data_dir);
    if (hub->cfg->throttle_d2c_device > 0 || hub->cfg->throttle_d2c_hub > 0 ||
        hub->cfg->throttle_connects_hub > 0)
        log_info("throttles on", "d2c_per_device=%g d2c_per_hub=%g connects_per_hub=%g",
                 hub->cfg->throttle_d2c_device, hub->cfg->throttle_d2c_hub,
                 hub->cfg->throttle_connects_hub);
    print_banner(hub);
    event_base_dispatch(main_base);
    rc = 0;
out:
    /* Order: no new input; every queued append completed (its mail waits in a mailbox);
     * connections closed and mailboxes drained; presence written; storage closed. */
    net_threads_stop(hub);
    registry_set_change_listener(hub->registry, NULL, NULL);
    if (hub->amqp)
        amqp_endpoint_close_readers(hub->amqp); /* the log closes with no readers */
    eventlog_close(hub->eventlog);
    hub->eventlog = NULL;
    net_threads_free(hub);
    if (presence_timer)
        event_free(presence_timer);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (main_base)
        event_base_free(main_base);
fail_early:
    presence_free(hub->presence);
    hub->presence = NULL;
    if (hub->mqtt)
        mqtt_endpoint_free(hub->mqtt);
    hub->mqtt = NULL;
    if (hub->amqp)
        amqp_endpoint_free(hub->amqp);
    hub->amqp = NULL;
    if (hub->eventlog)
        eventlog_close(hub->eventlog);
    hub->eventlog = NULL;
    return rc;
}

int main(int argc, char **argv)
{
    struct hub_config cfg;
    switch (config_parse(argc, argv, &cfg)) {
    case CONFIG_EXIT_OK:
        return 0;
    case CONFIG_EXIT_USAGE:
        return 2;
    case CONFIG_RUN:
        break;
    }
    int level = log_level_parse(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "iothubd: --log-level wants debug, info, warn or error\n");
        return 2;
    }
    log_set_level((enum log_level)level);
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();

    struct hub_throttle throttle; /* the rates were checked by config_parse */
    struct hub hub = {.cfg = &cfg, .lock_fd = -1, .https_fd = -1, .throttle = &throttle};
    char err[ERR_MAX] = "";
    int rc = 1;
    if (hub_throttle_init(&throttle, cfg.throttle_d2c_device, cfg.throttle_d2c_hub,
                          cfg.throttle_connects_hub) != 0) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    if (make_data_dir(cfg.data_dir, err, sizeof(err)) != 0 ||
        (!cfg.print_only && lock_data_dir(&hub, err, sizeof(err)) != 0) ||
        open_registry(&hub, err, sizeof(err)) != 0 || resolve_hostname(&hub, err, sizeof(err)) != 0)
        goto out;
    if (cfg.print_only) {
        rc = hub_print_connection_string(&hub, cfg.print_connection_string) == 0 ? 0 : 1;
        goto out;
    }
    if (cfg.dump_events) {
        if (open_eventlog(&hub, err, sizeof(err)) != 0)
            goto out;
        rc = dump_events(hub.eventlog, stdout) == 0 ? 0 : 1;
        eventlog_close(hub.eventlog);
        presence_free(hub.presence);
        goto out;
    }
    if (setup_tls(&hub, err, sizeof(err)) != 0 || serve(&hub, err, sizeof(err)) != 0)
        goto out;
    log_info("hub stopped", NULL);
    rc = 0;
out:
    if (rc != 0 && err[0]) {
        char quoted[ERR_MAX + 16];
        log_error("iothubd cannot run", "reason=%s", log_quote(err, quoted, sizeof(quoted)));
    }
    if (hub.https_fd >= 0)
        close(hub.https_fd);
    if (hub.ssl_ctx)
        SSL_CTX_free(hub.ssl_ctx);
    if (hub.registry)
        registry_close(hub.registry);
    if (hub.lock_fd >= 0)
        close(hub.lock_fd);
    hub_throttle_free(&throttle);
    return rc;
}
