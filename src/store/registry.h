/* The identity registry: device identities and shared access policies.
 *
 * This is one of the two narrow storage interfaces (the other is the event log). The
 * embedded backend is SQLite (registry_sqlite/); a PostgreSQL backend for cluster mode
 * will implement the same functions.
 *
 * Thread rules: every function may be called from any thread; the registry serialises
 * writers internally. Reads of auth data (registry_get_device_auth, registry_get_policy)
 * are served from an in-memory cache that every write keeps current, so they never touch
 * the disk. All out-structs are caller-owned values. */
#ifndef IOTHUB_STORE_REGISTRY_H
#define IOTHUB_STORE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/device.h"
#include "common/policy.h"

struct registry;

enum registry_result {
    REG_OK = 0,
    REG_NOT_FOUND = -1,    /* no such device / policy */
    REG_EXISTS = -2,       /* create of an id that exists */
    REG_PRECONDITION = -3, /* If-Match did not match the current etag */
    REG_INVALID = -4,      /* argument rejected (bad id, bad key) */
    REG_STORAGE = -5,      /* SQLite failed (disk full, I/O error); nothing was changed */
};

const char *registry_strerror(int result);

/* What a registry change did to a device, reported to the change listener so that live
 * connections can be closed at once (disable, delete, key change). */
enum registry_change {
    REG_CHANGE_CREATED = 1,
    REG_CHANGE_UPDATED = 2,     /* nothing that affects live connections */
    REG_CHANGE_CREDENTIALS = 3, /* keys, thumbprints or auth type changed */
    REG_CHANGE_DISABLED = 4,
    REG_CHANGE_DELETED = 5,
};

typedef void (*registry_change_fn)(void *ctx, const char *device_id, enum registry_change change);

/* Opens (creating when missing) the database at path, applies schema migrations and loads
 * the auth cache. On failure returns NULL and writes a reason naming the file to err. */
struct registry *registry_open(const char *path, char *err, size_t errlen);
void registry_close(struct registry *reg);

/* Called after each committed change, on the writing thread, outside the registry lock.
 * One listener; NULL removes it. */
void registry_set_change_listener(struct registry *reg, registry_change_fn fn, void *ctx);

/* Creates dev->device_id. Empty keys of a sas device are generated (32 random bytes).
 * generationId, etag and timestamps are set by the registry. On REG_OK *out holds the
 * stored device.
 * Credentials are normalised by auth type: sas keeps only keys, selfSigned only
 * thumbprints (at least one required, else REG_INVALID), certificateAuthority and none
 * neither. Non-empty keys must pass device_key_valid, thumbprints device_thumbprint_valid. */
int registry_create_device(struct registry *reg, const struct device *dev, struct device *out);

/* Replaces the writable members of an existing device (status, statusReason, auth,
 * capabilities, deviceScope) with those of dev (the caller merges a partial request into
 * the current device first). if_match: NULL or "*" = unconditional, else the etag (quotes
 * already stripped; surrounding quotes are tolerated). Empty keys of a sas device keep the
 * current keys (or are generated when it had none); empty thumbprints of a selfSigned
 * device keep the current ones. A status change sets statusUpdatedTime; every update
 * changes the etag. The change listener hears DISABLED (enabled -> disabled), else
 * CREDENTIALS (auth type, keys or thumbprints changed), else UPDATED. */
int registry_update_device(struct registry *reg, const struct device *dev, const char *if_match,
                           struct device *out);

int registry_get_device(struct registry *reg, const char *device_id, struct device *out);

/* What authenticating a device needs, from the in-memory cache (never touches the disk):
 * the hot path of MQTT CONNECT, AMQP CBS and the device HTTPS transport. Keys are the
 * base64 text as stored; thumbprints as registered (either case). */
struct device_auth {
    char device_id[DEVICE_ID_MAX + 1];
    char generation_id[24];
    bool enabled;
    enum device_auth_type auth_type;
    char primary_key[DEVICE_KEY_MAX + 1]; /* "" = none */
    char secondary_key[DEVICE_KEY_MAX + 1];
    char primary_thumbprint[DEVICE_THUMBPRINT_MAX + 1]; /* "" = none */
    char secondary_thumbprint[DEVICE_THUMBPRINT_MAX + 1];
};
/* REG_OK or REG_NOT_FOUND. */
int registry_get_device_auth(struct registry *reg, const char *device_id, struct device_auth *out);

int registry_delete_device(struct registry *reg, const char *device_id, const char *if_match);

/* Up to `top` devices ordered by id (byte order, ids are case-sensitive). *out is malloc'ed
 * (caller frees; NULL when *count is 0), *count its length. top == 0 lists nothing: the
 * REST layer maps a missing or out-of-range top to 1000. */
int registry_list_devices(struct registry *reg, size_t top, struct device **out, size_t *count);

struct registry_stats {
    int64_t total;
    int64_t enabled;
    int64_t disabled;
};
int registry_statistics(struct registry *reg, struct registry_stats *out);

/* Connection state and activity, batched by the caller (never one call per message). */
int registry_set_connection_state(struct registry *reg, const char *device_id, bool connected,
                                  int64_t when_ms);
int registry_touch_activity(struct registry *reg, const char *const *device_ids, size_t count,
                            int64_t when_ms);

/* MQTT persistent sessions (clean session 0): the device's hub subscriptions as a bit set.
 * *exists tells whether a session is stored. Deleting a device deletes its session. */
int registry_get_session(struct registry *reg, const char *device_id, uint32_t *subscriptions,
                         bool *exists);
int registry_set_session(struct registry *reg, const char *device_id, uint32_t subscriptions);
int registry_delete_session(struct registry *reg, const char *device_id);

/* Consumer groups of the Event Hubs-compatible endpoint. "$Default" always exists and
 * cannot be deleted. Names: 1..50 characters of letters, digits, '.', '_', '-' (or
 * "$Default"); they compare case-insensitively. */
#define CONSUMER_GROUP_NAME_MAX 50
int registry_consumer_group_create(struct registry *reg, const char *name); /* REG_EXISTS */
int registry_consumer_group_delete(struct registry *reg, const char *name); /* REG_NOT_FOUND */
/* REG_OK when it exists (the stored spelling copied to canonical when not NULL), else
 * REG_NOT_FOUND. Served from memory. */
int registry_consumer_group_get(struct registry *reg, const char *name, char *canonical,
                                size_t cap);
/* Names ordered case-insensitively, "$Default" first; *out malloc'ed array of
 * CONSUMER_GROUP_NAME_MAX + 1 sized strings (caller frees). */
int registry_consumer_group_list(struct registry *reg, char (**out)[CONSUMER_GROUP_NAME_MAX + 1],
                                 size_t *count);

/* Policies. Names compare case-insensitively. */
int registry_get_policy(struct registry *reg, const char *name, struct policy *out);
/* Creates the five default policies with random keys when the table is empty. */
int registry_ensure_default_policies(struct registry *reg);
/* All policies, malloc'ed array (caller frees). */
int registry_list_policies(struct registry *reg, struct policy **out, size_t *count);

/* Hub-wide settings that are fixed at creation or remembered (e.g. "hostname"). value is
 * "" when unset; REG_INVALID (and "") when the value does not fit in cap. */
int registry_get_setting(struct registry *reg, const char *name, char *value, size_t cap);
int registry_set_setting(struct registry *reg, const char *name, const char *value);

#endif
