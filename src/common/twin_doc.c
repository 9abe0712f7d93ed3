/* Twin documents: checks, merge patches, metadata, versions and etags (twin_doc.h). */
#include "common/twin_doc.h"

#include <stdio.h>
#include <string.h>

#include "common/base64.h"
#include "common/isotime.h"

static bool is_system_member(const char *key)
{
    return strcmp(key, "$version") == 0 || strcmp(key, "$metadata") == 0;
}

static const char *section_name(enum twin_section s)
{
    switch (s) {
    case TWIN_TAGS:
        return "tags";
    case TWIN_DESIRED:
        return "properties.desired";
    default:
        return "properties.reported";
    }
}

/* Prints at most 64 bytes of a key into a reason, '?' for bytes a reader cannot see (and
 * for ';', which Node's error parser splits on). A long key is cut between two UTF-8
 * characters, so that the reason stays valid UTF-8 for the JSON error bodies. */
static void key_excerpt(const char *key, char out[72])
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)key; *p && n < 64; p++)
        out[n++] = (*p < 0x20 || *p == 0x7f || *p == ';') ? '?' : (char)*p;
    if (key[n] != '\0') {
        while (n > 0 && ((unsigned char)key[n] & 0xC0) == 0x80)
            n--; /* key[n] continues a character: drop its start too */
        memcpy(out + n, "...", 4);
        return;
    }
    out[n] = '\0';
}

static bool key_ok(const char *key, char *why, size_t cap)
{
    char ex[72];
    size_t len = strlen(key);
    if (len == 0) {
        snprintf(why, cap, "a property name is empty");
        return false;
    }
    if (len > TWIN_KEY_MAX) {
        key_excerpt(key, ex);
        snprintf(why, cap, "the property name '%s' is longer than %d bytes", ex, TWIN_KEY_MAX);
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p == '.' || *p == '$' || *p == ' ' || *p < 0x20 || *p == 0x7f) {
            key_excerpt(key, ex);
            snprintf(why, cap,
                     "the property name '%s' holds a character twins do not allow ('.', '$', "
                     "space or a control character)",
                     ex);
            return false;
        }
    }
    return true;
}

/* depth: objects and arrays enclosing value, the section object not counted. */
static bool value_ok(const json_t *value, int depth, const char *key, char *why, size_t cap)
{
    char ex[72];
    switch (json_typeof(value)) {
    case JSON_OBJECT: {
        if (depth + 1 > TWIN_DEPTH_MAX) {
            key_excerpt(key, ex);
            snprintf(why, cap, "the value of '%s' nests objects deeper than %d levels", ex,
                     TWIN_DEPTH_MAX);
            return false;
        }
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)value, k, v)
        {
            if (!key_ok(k, why, cap) || !value_ok(v, depth + 1, k, why, cap))
                return false;
        }
        return true;
    }
    case JSON_ARRAY: {
        if (depth + 1 > TWIN_DEPTH_MAX) {
            key_excerpt(key, ex);
            snprintf(why, cap, "the value of '%s' nests deeper than %d levels", ex, TWIN_DEPTH_MAX);
            return false;
        }
        size_t i;
        const json_t *v;
        json_array_foreach(value, i, v)
        {
            if (!value_ok(v, depth + 1, key, why, cap))
                return false;
        }
        return true;
    }
    case JSON_STRING:
        if (json_string_length(value) > TWIN_STRING_MAX) {
            key_excerpt(key, ex);
            snprintf(why, cap, "the string value of '%s' is longer than %d bytes", ex,
                     TWIN_STRING_MAX);
            return false;
        }
        return true;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(value);
        if (n > TWIN_INT_MAX || n < TWIN_INT_MIN) {
            key_excerpt(key, ex);
            snprintf(why, cap, "the integer value of '%s' is outside -%lld..%lld", ex,
                     (long long)TWIN_INT_MAX + 1, (long long)TWIN_INT_MAX);
            return false;
        }
        return true;
    }
    default:
        return true; /* real, true, false, null */
    }
}

bool twin_check_patch(const json_t *patch, enum twin_section s, char *why, size_t cap)
{
    if (!json_is_object(patch)) {
        snprintf(why, cap, "%s must be a JSON object", section_name(s));
        return false;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (s != TWIN_TAGS && is_system_member(k))
            continue;
        if (!key_ok(k, why, cap) || !value_ok(v, 0, k, why, cap))
            return false;
    }
    return true;
}

/* ---- documents ------------------------------------------------------------------- */

static json_t *stamp_object(const char *stamp, int64_t version)
{
    json_t *m = json_object();
    if (!m || json_object_set_new(m, "$lastUpdated", json_string(stamp)) != 0 ||
        (version > 0 &&
         json_object_set_new(m, "$lastUpdatedVersion", json_integer((json_int_t)version)) != 0)) {
        json_decref(m);
        return NULL;
    }
    return m;
}

int twin_doc_init(struct twin_doc *d, int64_t created_ms)
{
    char stamp[ISOTIME_SIZE];
    isotime_format(created_ms, stamp, sizeof(stamp));
    memset(d, 0, sizeof(*d));
    d->tags = json_object();
    d->desired = json_object();
    d->reported = json_object();
    d->desired_meta = stamp_object(stamp, 0);
    d->reported_meta = stamp_object(stamp, 0);
    d->desired_version = d->reported_version = d->version = d->etag = 1;
    if (!d->tags || !d->desired || !d->reported || !d->desired_meta || !d->reported_meta) {
        twin_doc_free(d);
        return -1;
    }
    return 0;
}

void twin_doc_free(struct twin_doc *d)
{
    json_decref(d->tags);
    json_decref(d->desired);
    json_decref(d->desired_meta);
    json_decref(d->reported);
    json_decref(d->reported_meta);
    d->tags = d->desired = d->desired_meta = d->reported = d->reported_meta = NULL;
    free(d->model_id);
    d->model_id = NULL;
}

/* Sets $lastUpdated (and $lastUpdatedVersion when version > 0) of a metadata object. */
static int stamp(json_t *meta, const char *when, int64_t version)
{
    if (json_object_set_new(meta, "$lastUpdated", json_string(when)) != 0)
        return -1;
    if (version > 0 &&
        json_object_set_new(meta, "$lastUpdatedVersion", json_integer((json_int_t)version)) != 0)
        return -1;
    return 0;
}

/* Merges patch into target. meta is target's metadata object, or NULL for tags. top:
 * target is the section object, whose system members the patch may carry (ignored). */
static int merge(json_t *target, json_t *meta, const json_t *patch, const char *when,
                 int64_t version, bool top)
{
    if (meta && stamp(meta, when, version) != 0)
        return -1;
    const char *k;
    const json_t *pv;
    json_object_foreach((json_t *)patch, k, pv)
    {
        if (top && meta && is_system_member(k))
            continue;
        if (json_is_null(pv)) {
            json_object_del(target, k);
            if (meta)
                json_object_del(meta, k);
            continue;
        }
        if (json_is_object(pv)) {
            json_t *tv = json_object_get(target, k);
            json_t *mv = meta ? json_object_get(meta, k) : NULL;
            if (json_is_object(tv)) {
                if (meta && !json_is_object(mv)) {
                    mv = json_object(); /* the tree lost a level: start it again */
                    if (!mv || json_object_set_new(meta, k, mv) != 0)
                        return -1;
                }
                if (merge(tv, mv, pv, when, version, false) != 0)
                    return -1;
                continue;
            }
            json_t *nv = json_object();
            json_t *nm = meta ? json_object() : NULL;
            if (!nv || (meta && !nm) || merge(nv, nm, pv, when, version, false) != 0 ||
                json_object_set_new(target, k, nv) != 0) {
                json_decref(nm);
                return -1;
            }
            if (meta && json_object_set_new(meta, k, nm) != 0)
                return -1;
            continue;
        }
        if (json_object_set_new(target, k, json_deep_copy(pv)) != 0)
            return -1;
        if (meta && json_object_set_new(meta, k, stamp_object(when, version)) != 0)
            return -1;
    }
    return 0;
}

static json_t **section_props(struct twin_doc *d, enum twin_section s)
{
    return s == TWIN_TAGS ? &d->tags : s == TWIN_DESIRED ? &d->desired : &d->reported;
}

static json_t **section_meta(struct twin_doc *d, enum twin_section s)
{
    return s == TWIN_TAGS ? NULL : s == TWIN_DESIRED ? &d->desired_meta : &d->reported_meta;
}

static int64_t *section_version(struct twin_doc *d, enum twin_section s)
{
    return s == TWIN_TAGS ? NULL : s == TWIN_DESIRED ? &d->desired_version : &d->reported_version;
}

int twin_doc_patch(struct twin_doc *d, enum twin_section s, const json_t *patch, int64_t now_ms)
{
    char when[ISOTIME_SIZE];
    isotime_format(now_ms, when, sizeof(when));
    int64_t *version = section_version(d, s);
    json_t **meta = section_meta(d, s);
    int64_t next = version ? *version + 1 : 0;
    /* Only desired metadata carries $lastUpdatedVersion. */
    if (merge(*section_props(d, s), meta ? *meta : NULL, patch, when, s == TWIN_DESIRED ? next : 0,
              true) != 0)
        return -1;
    if (version)
        *version = next;
    return 0;
}

int twin_doc_replace(struct twin_doc *d, enum twin_section s, const json_t *value, int64_t now_ms)
{
    json_t **props = section_props(d, s), **meta = section_meta(d, s);
    json_t *np = json_object();
    json_t *nm = meta ? json_object() : NULL;
    if (!np || (meta && !nm)) {
        json_decref(np);
        json_decref(nm);
        return -1;
    }
    json_decref(*props);
    *props = np;
    if (meta) {
        json_decref(*meta);
        *meta = nm;
    }
    return twin_doc_patch(d, s, value, now_ms);
}

void twin_doc_bump(struct twin_doc *d)
{
    d->version++;
    d->etag++;
}

size_t twin_section_size(const struct twin_doc *d, enum twin_section s)
{
    const json_t *v = s == TWIN_TAGS ? d->tags : s == TWIN_DESIRED ? d->desired : d->reported;
    return json_dumpb(v, NULL, 0, JSON_COMPACT);
}

bool twin_doc_check_sizes(const struct twin_doc *d, char *why, size_t cap)
{
    static const struct {
        enum twin_section s;
        size_t max;
    } limits[] = {
        {TWIN_TAGS, TWIN_TAGS_MAX},
        {TWIN_DESIRED, TWIN_PROPS_MAX},
        {TWIN_REPORTED, TWIN_PROPS_MAX},
    };
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        size_t n = twin_section_size(d, limits[i].s);
        if (n > limits[i].max) {
            snprintf(why, cap, "%s would be %zu bytes, more than the %zu allowed",
                     section_name(limits[i].s), n, limits[i].max);
            return false;
        }
    }
    return true;
}

/* ---- etags and wire shapes ----------------------------------------------------------- */

void twin_etag_format(int64_t n, char out[TWIN_ETAG_SIZE])
{
    uint8_t be[8];
    uint64_t u = (uint64_t)n;
    for (int i = 7; i >= 0; i--) {
        be[i] = (uint8_t)(u & 0xff);
        u >>= 8;
    }
    if (base64_encode(be, sizeof(be), out, TWIN_ETAG_SIZE) < 0)
        out[0] = '\0';
}

bool twin_etag_matches(const char *if_match, int64_t n)
{
    if (!if_match)
        return true;
    const char *p = if_match;
    size_t len = strlen(p);
    if (len >= 2 && p[0] == 'W' && p[1] == '/') {
        p += 2;
        len -= 2;
    }
    if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
        p++;
        len -= 2;
    }
    if (len == 1 && p[0] == '*')
        return true;
    char etag[TWIN_ETAG_SIZE];
    twin_etag_format(n, etag);
    return strlen(etag) == len && memcmp(etag, p, len) == 0;
}

json_t *twin_section_json(const struct twin_doc *d, enum twin_section s, bool with_metadata)
{
    struct twin_doc *m = (struct twin_doc *)d; /* the section getters do not write */
    json_t *out = json_object();
    if (!out || json_object_update(out, *section_props(m, s)) != 0)
        goto fail;
    json_t **meta = section_meta(m, s);
    if (meta && with_metadata && json_object_set(out, "$metadata", *meta) != 0)
        goto fail;
    int64_t *version = section_version(m, s);
    if (version && json_object_set_new(out, "$version", json_integer((json_int_t)*version)) != 0)
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}

json_t *twin_notification_json(const json_t *patch, int64_t version)
{
    json_t *out = json_object();
    if (!out)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (!is_system_member(k) && json_object_set(out, k, v) != 0)
            goto fail;
    }
    if (json_object_set_new(out, "$version", json_integer((json_int_t)version)) != 0)
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}
