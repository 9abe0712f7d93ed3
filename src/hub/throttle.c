#include "hub/throttle.h"

#include "hub/throttle_memory.h"

/* Devices remembered at most (throttle_memory.h): ~100 bytes each. */
#define D2C_DEVICE_MEMORY_MAX 100000

#define NS_PER_S 1000000000LL

int throttle_rate_set(struct throttle_rate *r, double per_second)
{
    if (!(per_second >= 0) || per_second > THROTTLE_RATE_MAX)
        return -1;
    if (per_second == 0) {
        r->interval_ns = 0;
        r->burst_ns = 0;
        return 0;
    }
    double interval = (double)NS_PER_S / per_second;
    r->interval_ns = interval < 1 ? 1 : (int64_t)(interval + 0.5);
    /* One second of operations may go at once; a rate below 1/s still allows one. */
    int64_t burst = per_second < 1 ? 1 : (int64_t)per_second;
    r->burst_ns = burst * r->interval_ns;
    return 0;
}

/* The TAT after charging one operation at now, and the wait it implies before the next. A
 * full bucket has tat <= now; each operation moves tat one interval later; the caller must
 * wait while tat is more than one burst ahead of now. */
static int64_t charge(const struct throttle_rate *r, int64_t tat, int64_t now, int64_t *wait)
{
    int64_t next = (tat > now ? tat : now) + r->interval_ns;
    int64_t ahead = next - now - r->burst_ns;
    *wait = ahead > 0 ? ahead : 0;
    return next;
}

int64_t throttle_take(const struct throttle_rate *r, int64_t *tat_ns, int64_t now_ns,
                      int64_t max_wait_ns)
{
    if (!throttle_rate_on(r))
        return 0;
    int64_t wait;
    int64_t next = charge(r, *tat_ns, now_ns, &wait);
    if (wait > max_wait_ns)
        return -1;
    *tat_ns = next;
    return wait;
}

int64_t throttle_take_shared(const struct throttle_rate *r, _Atomic int64_t *tat_ns, int64_t now_ns,
                             int64_t max_wait_ns)
{
    if (!throttle_rate_on(r))
        return 0;
    int64_t old = atomic_load_explicit(tat_ns, memory_order_relaxed), wait;
    for (;;) {
        int64_t next = charge(r, old, now_ns, &wait);
        if (wait > max_wait_ns)
            return -1;
        if (atomic_compare_exchange_weak_explicit(tat_ns, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return wait;
    }
}

bool throttle_try_shared(const struct throttle_rate *r, _Atomic int64_t *tat_ns, int64_t now_ns)
{
    return throttle_take_shared(r, tat_ns, now_ns, 0) == 0;
}

int hub_throttle_init(struct hub_throttle *t, double d2c_device, double d2c_hub,
                      double connects_hub)
{
    if (throttle_rate_set(&t->d2c_device, d2c_device) != 0 ||
        throttle_rate_set(&t->d2c_hub, d2c_hub) != 0 ||
        throttle_rate_set(&t->connects_hub, connects_hub) != 0)
        return -1;
    atomic_init(&t->d2c_hub_tat, 0);
    atomic_init(&t->connects_hub_tat, 0);
    t->d2c_device_memory = NULL;
    if (throttle_rate_on(&t->d2c_device)) {
        t->d2c_device_memory = throttle_memory_new(D2C_DEVICE_MEMORY_MAX);
        if (!t->d2c_device_memory)
            return -1;
    }
    return 0;
}

void hub_throttle_free(struct hub_throttle *t)
{
    throttle_memory_free(t->d2c_device_memory);
    t->d2c_device_memory = NULL;
}
