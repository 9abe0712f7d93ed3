/* The threaded device client: one worker thread per client runs the do-work engine.
 *
 * The engine's confirmation, reported-state and status callbacks are trampolines that only
 * record events (no allocation: each request owns its event node); the worker runs the
 * user's callbacks afterwards with the lock released, in order, one at a time. The C2D,
 * method and twin callbacks answer the engine (a disposition, a response) or lend it data,
 * so their trampolines first run the events recorded before them, then call the user's
 * callback directly with the lock released: to the engine that is the same as a callback
 * that calls other ll functions, which the ll rules allow. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define STATUS_RING 16

/* A telemetry confirmation or a reported-state answer waiting to be dispatched. */
struct send_event {
    struct send_event *next;
    iothub_device_client_t *client;
    iothub_send_confirmation_cb cb;       /* telemetry, or */
    iothub_reported_state_cb reported_cb; /* reported state (then cb is NULL) */
    void *ctx;
    iothub_confirmation_result_t result;
    int status_code;
};

struct status_event {
    iothub_connection_status_t status;
    iothub_connection_status_reason_t reason;
};

struct iothub_device_client_s {
    iothub_device_client_ll_t *ll;
    pthread_mutex_t lock;
    pthread_t worker;
    int wake[2];
    bool stop;
    bool destroy_in_callback; /* destroy was called from a callback: the worker frees */

    /* Events recorded by the trampolines, dispatched by the worker (or destroy). */
    struct send_event *done_head, *done_tail;
    struct status_event status_ring[STATUS_RING];
    size_t status_count;

    iothub_connection_status_cb status_cb;
    void *status_ctx;
    iothub_c2d_message_cb c2d_cb;
    void *c2d_ctx;
    iothub_device_method_cb method_cb;
    void *method_ctx;
    iothub_twin_cb twin_cb;
    void *twin_ctx;
};

static void wake_worker(iothub_device_client_t *c)
{
    char b = 1;
    ssize_t n = write(c->wake[1], &b, 1);
    (void)n; /* a full pipe already means "wake up" */
}

static void record_event(struct send_event *e)
{
    iothub_device_client_t *c = e->client;
    e->next = NULL;
    if (c->done_tail)
        c->done_tail->next = e;
    else
        c->done_head = e;
    c->done_tail = e;
}

static void on_send_done(iothub_confirmation_result_t result, void *ctx)
{
    struct send_event *e = ctx;
    e->result = result;
    record_event(e);
}

static void on_reported_done(int status_code, void *ctx)
{
    struct send_event *e = ctx;
    e->status_code = status_code;
    record_event(e);
}

static void on_status(iothub_connection_status_t status, iothub_connection_status_reason_t reason,
                      void *ctx)
{
    iothub_device_client_t *c = ctx;
    if (c->status_count == STATUS_RING) {
        /* Coalesce: keep the oldest and the newest changes. */
        memmove(&c->status_ring[1], &c->status_ring[2],
                (STATUS_RING - 2) * sizeof(c->status_ring[0]));
        c->status_count--;
    }
    c->status_ring[c->status_count].status = status;
    c->status_ring[c->status_count].reason = reason;
    c->status_count++;
}

/* Runs the recorded callbacks; called with the lock held, returns with it held. */
static void dispatch(iothub_device_client_t *c)
{
    while (c->done_head || c->status_count > 0) {
        if (c->status_count > 0) {
            struct status_event ev = c->status_ring[0];
            memmove(&c->status_ring[0], &c->status_ring[1],
                    (c->status_count - 1) * sizeof(c->status_ring[0]));
            c->status_count--;
            iothub_connection_status_cb cb = c->status_cb;
            void *ctx = c->status_ctx;
            if (cb) {
                pthread_mutex_unlock(&c->lock);
                cb(ev.status, ev.reason, ctx);
                pthread_mutex_lock(&c->lock);
            }
            continue;
        }
        struct send_event *e = c->done_head;
        c->done_head = e->next;
        if (!c->done_head)
            c->done_tail = NULL;
        if (e->cb || e->reported_cb) {
            pthread_mutex_unlock(&c->lock);
            if (e->cb)
                e->cb(e->result, e->ctx);
            else
                e->reported_cb(e->status_code, e->ctx);
            pthread_mutex_lock(&c->lock);
        }
        free(e);
    }
}

/* The engine's C2D, method and twin callbacks (lock held on entry and on return). */
static iothub_disposition_t on_c2d(const iothub_message_t *msg, void *ctx)
{
    iothub_device_client_t *c = ctx;
    dispatch(c);
    iothub_c2d_message_cb cb = c->c2d_cb;
    void *user = c->c2d_ctx;
    if (!cb || c->stop)
        return IOTHUB_MESSAGE_ABANDONED; /* unset or destroying: offered again later */
    pthread_mutex_unlock(&c->lock);
    iothub_disposition_t d = cb(msg, user);
    pthread_mutex_lock(&c->lock);
    return d;
}

static int on_method(const char *method_name, const uint8_t *payload, size_t size,
                     uint8_t **response, size_t *response_size, void *ctx)
{
    iothub_device_client_t *c = ctx;
    dispatch(c);
    iothub_device_method_cb cb = c->method_cb;
    void *user = c->method_ctx;
    if (!cb || c->stop)
        return 503; /* unset or destroying meanwhile */
    pthread_mutex_unlock(&c->lock);
    int status = cb(method_name, payload, size, response, response_size, user);
    pthread_mutex_lock(&c->lock);
    return status;
}

static void on_twin(iothub_twin_update_state_t state, const uint8_t *payload, size_t size,
                    void *ctx)
{
    iothub_device_client_t *c = ctx;
    dispatch(c);
    iothub_twin_cb cb = c->twin_cb;
    void *user = c->twin_ctx;
    if (!cb || c->stop)
        return;
    pthread_mutex_unlock(&c->lock);
    cb(state, payload, size, user);
    pthread_mutex_lock(&c->lock);
}

static void free_client(iothub_device_client_t *c)
{
    close(c->wake[0]);
    close(c->wake[1]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Destroys the engine and runs its BECAUSE_DESTROY confirmations; lock held. */
static void finish(iothub_device_client_t *c)
{
    iothub_device_client_ll_destroy(c->ll);
    c->ll = NULL;
    dispatch(c);
}

static void *worker_main(void *arg)
{
    iothub_device_client_t *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        iothub_device_client_ll_do_work(c->ll);
        int fd, timeout;
        bool want_write;
        iothub_device_client_ll_get_poll(c->ll, &fd, &want_write, &timeout);
        if (c->done_head || c->status_count > 0) {
            dispatch(c);
            continue; /* callbacks may have queued work */
        }
        /* Poll at least every 100 ms: a cheap safety net for timers. */
        if (timeout < 0 || timeout > 100)
            timeout = 100;
        struct pollfd p[2] = {{.fd = c->wake[0], .events = POLLIN},
                              {.fd = fd, .events = (short)(POLLIN | (want_write ? POLLOUT : 0))}};
        pthread_mutex_unlock(&c->lock);
        int n = poll(p, fd >= 0 ? 2 : 1, timeout);
        pthread_mutex_lock(&c->lock);
        if (n > 0 && (p[0].revents & POLLIN)) {
            char buf[64];
            while (read(c->wake[0], buf, sizeof(buf)) > 0) {
            }
        }
    }
    bool self_free = c->destroy_in_callback;
    if (self_free)
        finish(c);
    pthread_mutex_unlock(&c->lock);
    if (self_free)
        free_client(c);
    return NULL;
}

static int client_new(iothub_device_client_t **out, iothub_device_client_ll_t *ll)
{
    int rc = IOTHUB_ENOMEM;
    iothub_device_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        goto fail_ll;
    c->ll = ll;
    rc = IOTHUB_ESYSTEM;
    if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail_client;
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        goto fail_pipe;
    iothub_device_client_ll_set_connection_status_callback(ll, on_status, c);
    /* The worker takes no signals: they belong to the host's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&c->worker, NULL, worker_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0)
        goto fail_mutex;
    *out = c;
    return 0;

fail_mutex:
    pthread_mutex_destroy(&c->lock);
fail_pipe:
    close(c->wake[0]);
    close(c->wake[1]);
fail_client:
    free(c);
fail_ll:
    iothub_device_client_ll_destroy(ll);
    return rc;
}

int iothub_device_client_create_from_connection_string(iothub_device_client_t **out,
                                                       const char *connection_string,
                                                       iothub_transport_t transport)
{
    if (!out)
        return IOTHUB_EINVAL;
    iothub_device_client_ll_t *ll;
    int rc =
        iothub_device_client_ll_create_from_connection_string(&ll, connection_string, transport);
    return rc ? rc : client_new(out, ll);
}

int iothub_device_client_create_with_key(iothub_device_client_t **out, const char *host,
                                         const char *device_id, const char *key_b64,
                                         iothub_transport_t transport)
{
    if (!out)
        return IOTHUB_EINVAL;
    iothub_device_client_ll_t *ll;
    int rc = iothub_device_client_ll_create_with_key(&ll, host, device_id, key_b64, transport);
    return rc ? rc : client_new(out, ll);
}

void iothub_device_client_destroy(iothub_device_client_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    if (pthread_equal(pthread_self(), c->worker)) {
        /* From one of our callbacks: the worker finishes after the callback returns. */
        c->destroy_in_callback = true;
        pthread_detach(c->worker);
        pthread_mutex_unlock(&c->lock);
        return;
    }
    pthread_mutex_unlock(&c->lock);
    wake_worker(c);
    pthread_join(c->worker, NULL);
    pthread_mutex_lock(&c->lock);
    finish(c);
    pthread_mutex_unlock(&c->lock);
    free_client(c);
}

/* Every call below: lock, forward to the engine, unlock, wake the worker. */
#define LOCKED(c, expr)                                                                            \
    do {                                                                                           \
        if (!(c))                                                                                  \
            return IOTHUB_EINVAL;                                                                  \
        pthread_mutex_lock(&(c)->lock);                                                            \
        int rc_ = (c)->stop ? IOTHUB_EDESTROYING : (expr);                                         \
        pthread_mutex_unlock(&(c)->lock);                                                          \
        wake_worker(c);                                                                            \
        return rc_;                                                                                \
    } while (0)

int iothub_device_client_set_option(iothub_device_client_t *c, const char *name, const void *value)
{
    LOCKED(c, iothub_device_client_ll_set_option(c->ll, name, value));
}

int iothub_device_client_set_option_int(iothub_device_client_t *c, const char *name, int64_t value)
{
    LOCKED(c, iothub_device_client_ll_set_option_int(c->ll, name, value));
}

int iothub_device_client_set_option_string(iothub_device_client_t *c, const char *name,
                                           const char *value)
{
    LOCKED(c, iothub_device_client_ll_set_option_string(c->ll, name, value));
}

int iothub_device_client_set_retry_policy(iothub_device_client_t *c, iothub_retry_policy_t policy,
                                          size_t retry_timeout_limit_s)
{
    LOCKED(c, iothub_device_client_ll_set_retry_policy(c->ll, policy, retry_timeout_limit_s));
}

int iothub_device_client_get_retry_policy(iothub_device_client_t *c, iothub_retry_policy_t *policy,
                                          size_t *retry_timeout_limit_s)
{
    LOCKED(c, iothub_device_client_ll_get_retry_policy(c->ll, policy, retry_timeout_limit_s));
}

static int send_locked(iothub_device_client_t *c, const iothub_message_t *msg,
                       iothub_send_confirmation_cb cb, void *ctx)
{
    struct send_event *e = calloc(1, sizeof(*e));
    if (!e)
        return IOTHUB_ENOMEM;
    e->client = c;
    e->cb = cb;
    e->ctx = ctx;
    int rc = iothub_device_client_ll_send_event_async(c->ll, msg, on_send_done, e);
    if (rc)
        free(e);
    return rc;
}

int iothub_device_client_send_event_async(iothub_device_client_t *c, const iothub_message_t *msg,
                                          iothub_send_confirmation_cb callback, void *ctx)
{
    LOCKED(c, send_locked(c, msg, callback, ctx));
}

int iothub_device_client_get_send_status(iothub_device_client_t *c, iothub_send_status_t *status)
{
    LOCKED(c, iothub_device_client_ll_get_send_status(c->ll, status));
}

static int set_status_cb_locked(iothub_device_client_t *c, iothub_connection_status_cb cb,
                                void *ctx)
{
    c->status_cb = cb;
    c->status_ctx = ctx;
    return 0;
}

int iothub_device_client_set_connection_status_callback(iothub_device_client_t *c,
                                                        iothub_connection_status_cb callback,
                                                        void *ctx)
{
    LOCKED(c, set_status_cb_locked(c, callback, ctx));
}

static int set_c2d_locked(iothub_device_client_t *c, iothub_c2d_message_cb cb, void *ctx)
{
    int rc = iothub_device_client_ll_set_message_callback(c->ll, cb ? on_c2d : NULL, c);
    if (rc == 0) {
        c->c2d_cb = cb;
        c->c2d_ctx = ctx;
    }
    return rc;
}

int iothub_device_client_set_message_callback(iothub_device_client_t *c,
                                              iothub_c2d_message_cb callback, void *ctx)
{
    LOCKED(c, set_c2d_locked(c, callback, ctx));
}

static int set_method_locked(iothub_device_client_t *c, iothub_device_method_cb cb, void *ctx)
{
    int rc = iothub_device_client_ll_set_device_method_callback(c->ll, cb ? on_method : NULL, c);
    if (rc == 0) {
        c->method_cb = cb;
        c->method_ctx = ctx;
    }
    return rc;
}

int iothub_device_client_set_device_method_callback(iothub_device_client_t *c,
                                                    iothub_device_method_cb callback, void *ctx)
{
    LOCKED(c, set_method_locked(c, callback, ctx));
}

static int set_twin_locked(iothub_device_client_t *c, iothub_twin_cb cb, void *ctx)
{
    int rc = iothub_device_client_ll_set_device_twin_callback(c->ll, cb ? on_twin : NULL, c);
    if (rc == 0) {
        c->twin_cb = cb;
        c->twin_ctx = ctx;
    }
    return rc;
}

int iothub_device_client_set_device_twin_callback(iothub_device_client_t *c,
                                                  iothub_twin_cb callback, void *ctx)
{
    LOCKED(c, set_twin_locked(c, callback, ctx));
}

static int reported_locked(iothub_device_client_t *c, const uint8_t *state, size_t size,
                           iothub_reported_state_cb cb, void *ctx)
{
    struct send_event *e = calloc(1, sizeof(*e));
    if (!e)
        return IOTHUB_ENOMEM;
    e->client = c;
    e->reported_cb = cb;
    e->ctx = ctx;
    int rc = iothub_device_client_ll_send_reported_state(c->ll, state, size, on_reported_done, e);
    if (rc)
        free(e);
    return rc;
}

int iothub_device_client_send_reported_state(iothub_device_client_t *c,
                                             const uint8_t *reported_state, size_t size,
                                             iothub_reported_state_cb callback, void *ctx)
{
    LOCKED(c, reported_locked(c, reported_state, size, callback, ctx));
}
