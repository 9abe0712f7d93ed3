/* libFuzzer target: twin patches (spec 3.5, 6.1) as services and devices send them. The
 * input is parsed as JSON and, for each section, checked with twin_check_patch; a patch
 * that passes is merged into a twin that already holds properties, and replaces one.
 *
 * Besides "no crash, no sanitizer report" it checks what must hold for every input: a
 * refusal gives a reason without ';'; a merged section still passes the checks, holds no
 * null member, has a metadata entry for every member (objects recursively) and does not
 * change when the same patch is merged again (merge patches are idempotent); a replaced
 * section equals the patch merged into an empty one. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/twin_doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 1700000000000LL

static void check(int ok)
{
    if (!ok)
        abort();
}

static json_t **props(struct twin_doc *d, enum twin_section s)
{
    return s == TWIN_TAGS ? &d->tags : s == TWIN_DESIRED ? &d->desired : &d->reported;
}

/* Every member of value has metadata in meta; no member is null. */
static void check_tree(const json_t *value, const json_t *meta)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)value, k, v)
    {
        check(!json_is_null(v));
        if (meta) {
            const json_t *m = json_object_get(meta, k);
            check(json_is_object(m));
            check(json_is_string(json_object_get(m, "$lastUpdated")));
            if (json_is_object(v))
                check_tree(v, m);
        } else if (json_is_object(v)) {
            check_tree(v, NULL);
        }
    }
}

static void base_doc(struct twin_doc *d)
{
    check(twin_doc_init(d, T0) == 0);
    json_t *p = json_loads("{\"a\":1,\"obj\":{\"x\":\"y\",\"z\":[1,2]},\"s\":\"t\"}", 0, NULL);
    check(p != NULL);
    for (int s = TWIN_TAGS; s <= TWIN_REPORTED; s++)
        check(twin_doc_patch(d, (enum twin_section)s, p, T0) == 0);
    json_decref(p);
}

static void one_section(const json_t *patch, enum twin_section s)
{
    char why[TWIN_WHY_SIZE] = "";
    if (!twin_check_patch(patch, s, why, sizeof(why))) {
        check(why[0] != '\0' && strchr(why, ';') == NULL);
        json_t *text = json_string(why); /* valid UTF-8: it goes into JSON error bodies */
        check(text != NULL);
        json_decref(text);
        return;
    }
    struct twin_doc d;
    base_doc(&d);
    int64_t version = s == TWIN_DESIRED ? d.desired_version : d.reported_version;
    check(twin_doc_patch(&d, s, patch, T0 + 1) == 0);
    json_t *section = *props(&d, s);
    check(twin_check_patch(section, s, why, sizeof(why)));
    const json_t *meta = s == TWIN_DESIRED    ? d.desired_meta
                         : s == TWIN_REPORTED ? d.reported_meta
                                              : NULL;
    check_tree(section, meta);
    if (s != TWIN_TAGS)
        check((s == TWIN_DESIRED ? d.desired_version : d.reported_version) == version + 1);
    json_t *once = json_deep_copy(section);
    check(twin_doc_patch(&d, s, patch, T0 + 2) == 0);
    check(json_equal(once, *props(&d, s)));
    json_decref(once);
    (void)twin_doc_check_sizes(&d, why, sizeof(why));

    /* Replace == merge into an empty section. */
    check(twin_doc_replace(&d, s, patch, T0 + 3) == 0);
    struct twin_doc fresh;
    check(twin_doc_init(&fresh, T0) == 0);
    check(twin_doc_patch(&fresh, s, patch, T0 + 3) == 0);
    check(json_equal(*props(&d, s), *props(&fresh, s)));
    twin_doc_free(&fresh);

    json_t *note = twin_notification_json(patch, 7);
    check(note && json_integer_value(json_object_get(note, "$version")) == 7);
    json_decref(note);
    twin_doc_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *patch = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!patch)
        return 0;
    for (int s = TWIN_TAGS; s <= TWIN_REPORTED; s++)
        one_section(patch, (enum twin_section)s);
    json_decref(patch);
    return 0;
}
