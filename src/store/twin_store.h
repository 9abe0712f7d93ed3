/* Device twins in the registry (spec 3.5): one twin document per device identity, and for
 * MQTT persistent sessions the desired $version the device was last brought up to.
 *
 * A device without a stored twin has the empty twin of twin_doc_init (versions 1, stamped
 * with the device's creation time). Deleting a device deletes its twin.
 *
 * Thread rules: any thread; every call runs under the registry lock. Updates are one
 * read-modify-write transaction: a failure (bad patch, etag mismatch, full disk) changes
 * nothing. Out-docs are caller-owned: release them with twin_doc_free. */
#ifndef IOTHUB_STORE_TWIN_STORE_H
#define IOTHUB_STORE_TWIN_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "common/twin_doc.h"
#include "store/registry.h"

/* The twin of device_id. REG_OK, REG_NOT_FOUND (no such device) or REG_STORAGE. */
int twin_store_get(struct registry *reg, const char *device_id, struct twin_doc *out);

/* What an update callback decided. */
enum twin_edit {
    TWIN_EDIT_CHANGED = 0,   /* store the document (version and etag already bumped) */
    TWIN_EDIT_UNCHANGED = 1, /* nothing to store */
    TWIN_EDIT_REJECTED = 2,  /* the change breaks a rule: store nothing, REG_INVALID */
    TWIN_EDIT_FAILED = 3,    /* out of memory: store nothing, REG_STORAGE */
};

/* Edits the document in place, under the registry lock (pure work only: no I/O, no
 * locks). now_ms is the time of the transaction. */
typedef enum twin_edit (*twin_edit_fn)(struct twin_doc *doc, int64_t now_ms, void *ctx);

/* Loads the twin of device_id, checks if_match against its etag (NULL, "*", "\"*\"" match
 * anything), lets edit change it and stores the result, all in one transaction. On REG_OK
 * *out (when not NULL) holds the stored document. REG_NOT_FOUND (no such device),
 * REG_PRECONDITION (etag), REG_INVALID (edit rejected), REG_STORAGE (SQLite failed or out
 * of memory): nothing stored. */
int twin_store_update(struct registry *reg, const char *device_id, const char *if_match,
                      twin_edit_fn edit, void *ctx, struct twin_doc *out);

/* Records the IoT Plug and Play model id a device connected with (spec 3.5 modelId) when it
 * differs from the stored one; the twin's versions and etag stay. REG_OK, REG_NOT_FOUND,
 * REG_INVALID (empty model_id), REG_STORAGE. */
int twin_store_set_model_id(struct registry *reg, const char *device_id, const char *model_id);

/* The catch-up of a persistent MQTT session on desired properties, called when a
 * clean-session-0 device holding the desired subscription connects or takes the
 * subscription. The registry keeps the desired $version the device was last brought up to
 * (0 = never). When it is 0, the current $version is recorded and *whole is NULL (a first
 * subscription starts from now: SDKs read the twin after subscribing). When desired moved
 * on since, *whole is the entire desired document with its "$version" (a new object, the
 * caller decrefs and sends it) and the current $version is recorded. Else *whole is NULL.
 *
 * Live notifications are not recorded: QoS 0 gives no proof of delivery, and one sent on
 * a connection that is already dead (a device gone without DISCONNECT) would otherwise be
 * lost for good. The price is one notification repeating what the device may already
 * have, on the first connect after live changes. REG_OK, REG_NOT_FOUND, REG_STORAGE. */
int twin_store_desired_catch_up(struct registry *reg, const char *device_id, json_t **whole);

#endif
