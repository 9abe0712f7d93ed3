/* The device twin document (spec 3.5, limits 6.1): validation of what services and devices
 * send, JSON merge patches, the $metadata tree, section $versions and the twin etag. Pure
 * jansson, no I/O: the registry stores a struct twin_doc, the REST and MQTT handlers build
 * their answers from it.
 *
 * Sections: tags (no metadata, no version), desired and reported (each a property object
 * kept apart from its $metadata tree and its $version). The property objects never hold
 * the system members $version or $metadata.
 *
 * Ownership: every json_t in a struct twin_doc belongs to the doc (one reference each) and
 * is released by twin_doc_free. Functions that take a patch only borrow it. */
#ifndef IOTHUB_COMMON_TWIN_DOC_H
#define IOTHUB_COMMON_TWIN_DOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of the hosted service (spec 6.1). Sizes are bytes of the compact JSON text of a
 * section without $version and $metadata. */
#define TWIN_TAGS_MAX   (8 * 1024)
#define TWIN_PROPS_MAX  (32 * 1024)
#define TWIN_KEY_MAX    1024 /* bytes of UTF-8 */
#define TWIN_STRING_MAX (4 * 1024)
#define TWIN_DEPTH_MAX  10 /* objects (and arrays) nested below the section object */
#define TWIN_INT_MAX    INT64_C(4503599627370495)
#define TWIN_INT_MIN    (-INT64_C(4503599627370495) - 1)
#define TWIN_ETAG_SIZE  13 /* base64 of 8 bytes, NUL included */
#define TWIN_WHY_SIZE   256

enum twin_section {
    TWIN_TAGS = 0,
    TWIN_DESIRED = 1,
    TWIN_REPORTED = 2,
};

struct twin_doc {
    json_t *tags;             /* object */
    json_t *desired;          /* object, properties only */
    json_t *desired_meta;     /* object: the $metadata tree of desired */
    json_t *reported;         /* object, properties only */
    json_t *reported_meta;    /* object: the $metadata tree of reported */
    int64_t desired_version;  /* $version, from 1, +1 per change of the section */
    int64_t reported_version; /* same for reported */
    int64_t version;          /* the twin's version, +1 per change of the twin */
    int64_t etag;             /* counter behind the twin etag, +1 per change */
    /* The IoT Plug and Play model id the device last connected with (owned), NULL = none.
     * Not a twin change: it moves no version and no etag. */
    char *model_id;
};

/* The twin of a device nobody wrote to yet: empty sections, every version 1, metadata
 * stamped created_ms. 0, or -1 when out of memory (d is then empty, safe to free). */
int twin_doc_init(struct twin_doc *d, int64_t created_ms);
void twin_doc_free(struct twin_doc *d);

/* Checks a patch (or replacement) of one section: an object whose keys are 1..1 KB of
 * UTF-8 without '.', '$', space or control characters, strings up to 4 KB, integers
 * within TWIN_INT_MIN..TWIN_INT_MAX, at most 10 levels of objects and arrays below the
 * section object (the hosted service's "one".."ten" example); null is allowed (it
 * deletes). The system members $version and $metadata are tolerated at the top of a
 * desired or reported patch (twin_doc_patch ignores them). Returns true, or false with a
 * reason naming the offending key (no ';') in why. */
bool twin_check_patch(const json_t *patch, enum twin_section s, char *why, size_t cap);

/* Merges patch (checked) into section s at now_ms: objects merge recursively, null
 * removes a key, anything else replaces. The $metadata tree gets $lastUpdated = now on
 * every object level and leaf the patch touched ($lastUpdatedVersion too, in desired) and
 * the section's $version goes up by one. Twin version and etag are left alone (see
 * twin_doc_bump). 0, or -1 when out of memory (d is then partly merged: discard it). */
int twin_doc_patch(struct twin_doc *d, enum twin_section s, const json_t *patch, int64_t now_ms);

/* Replaces section s wholesale with value (checked; nulls dropped): a PUT /twins. */
int twin_doc_replace(struct twin_doc *d, enum twin_section s, const json_t *value, int64_t now_ms);

/* The twin changed: version and etag up by one. */
void twin_doc_bump(struct twin_doc *d);

/* Size of section s as the limits count it (compact JSON, no system members). */
size_t twin_section_size(const struct twin_doc *d, enum twin_section s);

/* Checks the size limits of every section after a merge. true, or false with a reason. */
bool twin_doc_check_sizes(const struct twin_doc *d, char *why, size_t cap);

/* The etag of counter n: base64 of n as 8 bytes big-endian ("AAAAAAAAAAE=" for 1). */
void twin_etag_format(int64_t n, char out[TWIN_ETAG_SIZE]);

/* Compares an If-Match value with the etag of counter n: NULL, "*" and "\"*\"" match
 * anything; surrounding quotes and a W/ prefix are ignored. */
bool twin_etag_matches(const char *if_match, int64_t n);

/* A section as the wire shows it: a new object holding the properties, then (when
 * with_metadata) "$metadata", then "$version". NULL when out of memory. */
json_t *twin_section_json(const struct twin_doc *d, enum twin_section s, bool with_metadata);

/* A copy of patch without the top-level system members, with "$version": version
 * appended: the body of a desired-property notification. NULL when out of memory. */
json_t *twin_notification_json(const json_t *patch, int64_t version);

#endif
