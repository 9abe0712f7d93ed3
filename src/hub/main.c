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
#include "hub/hub.h"
#include "hub/net/listener.h"
#include "hub/net/threads.h"
#include "hub/tls/context.h"

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

static void print_banner(const struct hub *hub)
{
    printf("iothubd %s is running.\n", IOTHUB_VERSION);
    printf("Hub connection string (iothubowner):\n  ");
    hub_print_connection_string(hub, "iothubowner");
    if (hub->tls.ca_cert[0])
        printf("CA certificate for clients to trust:\n  %s\n", hub->tls.ca_cert);
    printf("Service REST API: https://%s:%d/\n", hub->hostname, hub->cfg->https_port);
    fflush(stdout);
}

static void on_signal(evutil_socket_t sig, short events, void *arg)
{
    (void)events;
    log_info("shutting down", "signal=%d", (int)sig);
    event_base_loopbreak(arg);
}

static int serve(struct hub *hub, char *err, size_t errlen)
{
    if (hub->cfg->https_port > 0) {
        hub->https_fd = listener_open(hub->cfg->bind_address, hub->cfg->https_port, "--https-port",
                                      err, errlen);
        if (hub->https_fd < 0)
            return -1;
    }
    hub->thread_count = hub->cfg->threads;
    if (net_threads_create(hub, err, errlen) != 0)
        return -1;

    struct event_base *main_base = event_base_new();
    struct event *sigint = main_base ? evsignal_new(main_base, SIGINT, on_signal, main_base) : NULL;
    struct event *sigterm =
        main_base ? evsignal_new(main_base, SIGTERM, on_signal, main_base) : NULL;
    int rc = -1;
    if (!sigint || !sigterm || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0) {
        snprintf(err, errlen, "cannot install the SIGINT and SIGTERM handlers");
        goto out;
    }
    if (net_threads_start(hub) != 0) {
        snprintf(err, errlen, "cannot start the network threads");
        goto out;
    }
    log_info("hub started", "hostname=%s https_port=%d threads=%d data_dir=%s", hub->hostname,
             hub->cfg->https_port, hub->thread_count, hub->cfg->data_dir);
    print_banner(hub);
    event_base_dispatch(main_base);
    rc = 0;
out:
    net_threads_stop(hub);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (main_base)
        event_base_free(main_base);
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

    struct hub hub = {.cfg = &cfg, .lock_fd = -1, .https_fd = -1};
    char err[ERR_MAX] = "";
    int rc = 1;
    if (make_data_dir(cfg.data_dir, err, sizeof(err)) != 0 ||
        (!cfg.print_only && lock_data_dir(&hub, err, sizeof(err)) != 0) ||
        open_registry(&hub, err, sizeof(err)) != 0 || resolve_hostname(&hub, err, sizeof(err)) != 0)
        goto out;
    if (cfg.print_only) {
        rc = hub_print_connection_string(&hub, cfg.print_connection_string) == 0 ? 0 : 1;
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
    return rc;
}
