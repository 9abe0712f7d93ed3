#include "hub/methods/broker.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "hub/net/threads.h"

struct method_call *method_call_new(const char *device_id, const char *method_name,
                                    const char *payload, size_t payload_len,
                                    int64_t response_timeout_ms, int64_t connect_timeout_ms,
                                    struct net_thread *home, method_outcome_fn on_outcome,
                                    void *home_ctx)
{
    struct method_call *call = calloc(1, sizeof(*call));
    if (!call)
        return NULL;
    size_t name_len = strlen(method_name);
    call->method_name = malloc(name_len + 1);
    call->payload = malloc(payload_len + 1);
    if (!call->method_name || !call->payload || pthread_mutex_init(&call->lock, NULL) != 0) {
        free(call->method_name);
        free(call->payload);
        free(call);
        return NULL;
    }
    memcpy(call->method_name, method_name, name_len + 1);
    memcpy(call->payload, payload, payload_len);
    call->payload[payload_len] = '\0';
    call->payload_len = payload_len;
    str_copy(call->device_id, sizeof(call->device_id), device_id);
    call->response_timeout_ms = response_timeout_ms;
    call->connect_timeout_ms = connect_timeout_ms;
    call->home = home;
    call->on_outcome = on_outcome;
    call->home_ctx = home_ctx;
    atomic_init(&call->refs, 1);
    atomic_init(&call->claim, METHOD_CALL_OPEN);
    atomic_init(&call->delivered_ms, 0);
    return call;
}

void method_call_ref(struct method_call *call)
{
    atomic_fetch_add_explicit(&call->refs, 1, memory_order_relaxed);
}

void method_call_unref(struct method_call *call)
{
    if (atomic_fetch_sub_explicit(&call->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&call->lock);
    free(call->method_name);
    free(call->payload);
    free(call);
}

bool method_call_claim_delivery(struct method_call *call, int64_t now_ms)
{
    int expected = METHOD_CALL_OPEN;
    if (!atomic_compare_exchange_strong(&call->claim, &expected, METHOD_CALL_DELIVERED))
        return false;
    /* After the claim, so that only the one delivery writes it; a reader that sees
     * DELIVERED and still 0 treats the call as sent just now. */
    atomic_store(&call->delivered_ms, now_ms);
    return true;
}

enum method_claim method_call_close(struct method_call *call)
{
    int expected = METHOD_CALL_OPEN;
    if (atomic_compare_exchange_strong(&call->claim, &expected, METHOD_CALL_CLOSED))
        return METHOD_CALL_OPEN;
    return (enum method_claim)expected;
}

struct method_outcome *method_outcome_new(enum method_outcome_kind kind, int status,
                                          const void *payload, size_t len)
{
    struct method_outcome *out = malloc(sizeof(*out) + len + 1);
    if (!out)
        return NULL;
    out->kind = kind;
    out->status = status;
    out->payload_len = len;
    if (len)
        memcpy(out->payload, payload, len);
    out->payload[len] = '\0';
    return out;
}

/* On the home thread: hands the outcome to the call's owner, drops the mail's reference. */
static void outcome_mail(void *obj, uint64_t arg1, int64_t arg2)
{
    (void)arg2;
    struct method_call *call = obj;
    call->on_outcome(call, (struct method_outcome *)(uintptr_t)arg1);
    method_call_unref(call);
}

void method_call_post(struct method_call *call, struct method_outcome *out)
{
    pthread_mutex_lock(&call->lock);
    if (call->sealed) {
        pthread_mutex_unlock(&call->lock);
        free(out);
        return;
    }
    method_call_ref(call);
    struct mail m = {outcome_mail, call, (uint64_t)(uintptr_t)out, 0};
    int rc = mailbox_post(&call->home->mailbox, &m);
    pthread_mutex_unlock(&call->lock);
    if (rc != 0) {
        log_error("lost a direct method outcome: out of memory; the call ends by its timeout",
                  "device=%s method=%s", call->device_id, call->method_name);
        free(out);
        method_call_unref(call);
    }
}

void method_call_seal(struct method_call *call)
{
    pthread_mutex_lock(&call->lock);
    call->sealed = true;
    pthread_mutex_unlock(&call->lock);
    method_call_close(call);
}

/* ---------------------------------------------------------------------------------------
 * The waiting list. Short (calls with a connect timeout whose device is offline), so a
 * plain list under one mutex; touched at invoke, at seal and when a device comes online. */

static pthread_mutex_t waiters_lock = PTHREAD_MUTEX_INITIALIZER;
static struct method_call *waiters_head;

void method_waiters_add(struct method_call *call)
{
    method_call_ref(call);
    pthread_mutex_lock(&waiters_lock);
    call->waiting = true;
    call->wait_prev = NULL;
    call->wait_next = waiters_head;
    if (waiters_head)
        waiters_head->wait_prev = call;
    waiters_head = call;
    pthread_mutex_unlock(&waiters_lock);
}

static void unlink_waiter(struct method_call *call)
{
    if (call->wait_prev)
        call->wait_prev->wait_next = call->wait_next;
    else
        waiters_head = call->wait_next;
    if (call->wait_next)
        call->wait_next->wait_prev = call->wait_prev;
    call->wait_prev = call->wait_next = NULL;
    call->waiting = false;
}

void method_waiters_remove(struct method_call *call)
{
    pthread_mutex_lock(&waiters_lock);
    bool listed = call->waiting;
    if (listed)
        unlink_waiter(call);
    pthread_mutex_unlock(&waiters_lock);
    if (listed)
        method_call_unref(call);
}

size_t method_waiters_take(const char *device_id, struct method_call ***out)
{
    *out = NULL;
    pthread_mutex_lock(&waiters_lock);
    size_t n = 0;
    for (struct method_call *c = waiters_head; c; c = c->wait_next)
        if (strcmp(c->device_id, device_id) == 0)
            n++;
    struct method_call **taken = n ? malloc(n * sizeof(*taken)) : NULL;
    if (!taken) {
        pthread_mutex_unlock(&waiters_lock);
        if (n)
            log_error("cannot deliver waiting direct method calls: out of memory",
                      "device=%s calls=%zu", device_id, n);
        return 0;
    }
    size_t k = 0;
    struct method_call *c = waiters_head;
    while (c) {
        struct method_call *next = c->wait_next;
        if (strcmp(c->device_id, device_id) == 0) {
            unlink_waiter(c);
            taken[k++] = c;
        }
        c = next;
    }
    pthread_mutex_unlock(&waiters_lock);
    *out = taken;
    return k;
}
