/* Rate throttles (spec 6.2): token buckets for device-to-cloud sends (per device and per hub)
 * and new device connections (per hub). Off by default; set with the --throttle-* flags.
 *
 * Each bucket is a GCRA ("generic cell rate algorithm"), the token bucket kept as one
 * number: the theoretical arrival time (TAT) of the next operation. A bucket of rate R per
 * second holds R tokens (one second of burst, at least 1); every operation takes a token,
 * and an empty bucket refills at R per second. One int64 per bucket, so a shared bucket is
 * one atomic compare-and-swap and a per-connection bucket a plain field (carried across a
 * reconnect by throttle_memory.h).
 *
 * What happens over the rate is the caller's choice (docs/reliability.md, Throttling):
 * throttle_take() always charges and says how long to wait before the next operation (the
 * MQTT telemetry path pauses reading for that long); throttle_try() charges only when under
 * the rate (the connect path refuses with CONNACK 3 otherwise).
 *
 * Pure logic: no clock of its own (callers pass monotonic nanoseconds), no allocation. */
#ifndef IOTHUB_HUB_THROTTLE_H
#define IOTHUB_HUB_THROTTLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A rate: one operation per interval_ns, burst_ns of credit. interval_ns 0 = off. */
struct throttle_rate {
    int64_t interval_ns;
    int64_t burst_ns;
};

/* Sets r to per_second operations per second with one second of burst (at least one
 * operation). per_second 0 turns the throttle off. Returns 0, or -1 when per_second is
 * negative, not a number, or above THROTTLE_RATE_MAX. */
#define THROTTLE_RATE_MAX 1e9
int throttle_rate_set(struct throttle_rate *r, double per_second);

static inline bool throttle_rate_on(const struct throttle_rate *r)
{
    return r->interval_ns > 0;
}

/* Times are CLOCK_MONOTONIC nanoseconds: time_mono_ns() of common/isotime.h. */

/* Charges one operation at now_ns to the bucket whose TAT is *tat_ns (owned by one thread;
 * start it at 0). Returns how long the caller should wait before the next operation, in
 * ns: 0 while under the rate. When that wait would exceed max_wait_ns nothing is charged
 * and -1 is returned (the caller refuses instead of waiting). Off: always 0. */
int64_t throttle_take(const struct throttle_rate *r, int64_t *tat_ns, int64_t now_ns,
                      int64_t max_wait_ns);
/* The same on a bucket shared between threads. */
int64_t throttle_take_shared(const struct throttle_rate *r, _Atomic int64_t *tat_ns, int64_t now_ns,
                             int64_t max_wait_ns);
/* Charges one operation only when it is under the rate: true (charged) or false (over the
 * rate, nothing charged). Off: always true. */
bool throttle_try_shared(const struct throttle_rate *r, _Atomic int64_t *tat_ns, int64_t now_ns);

/* The hub's throttles, made from the --throttle-* flags at start (main.c). The rates are
 * immutable once the hub runs; the shared TATs are atomics. */
struct hub_throttle {
    struct throttle_rate d2c_device;   /* --throttle-d2c-per-device: on the connection */
    struct throttle_rate d2c_hub;      /* --throttle-d2c-per-hub */
    struct throttle_rate connects_hub; /* --throttle-connects-per-hub */
    _Atomic int64_t d2c_hub_tat;
    _Atomic int64_t connects_hub_tat;
    /* d2c_device buckets of devices that disconnected while over the rate (NULL when
     * d2c_device is off): a reconnect resumes the bucket (throttle_memory.h). */
    struct throttle_memory *d2c_device_memory;
};

/* Rates per second; 0 = off. Returns 0, or -1 for a rate throttle_rate_set() refuses or
 * when out of memory. */
int hub_throttle_init(struct hub_throttle *t, double d2c_device, double d2c_hub,
                      double connects_hub);
void hub_throttle_free(struct hub_throttle *t);

#endif
