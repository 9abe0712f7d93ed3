/* Helpers shared by the request/reply links ($cbs, $management). */
#include <string.h>

#include "common/strbuf.h"
#include "hub/amqp/internal.h"

int amqp_app_prop(pn_message_t *msg, const char *key, char *out, size_t cap)
{
    pn_data_t *p = pn_message_properties(msg);
    if (!p)
        return -1;
    pn_data_rewind(p);
    if (!pn_data_next(p) || pn_data_type(p) != PN_MAP)
        return -1;
    size_t n = pn_data_get_map(p);
    pn_data_enter(p);
    int rc = -1;
    size_t klen = strlen(key);
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (!pn_data_next(p))
            break;
        bool match = false;
        if (pn_data_type(p) == PN_STRING || pn_data_type(p) == PN_SYMBOL) {
            pn_bytes_t k =
                pn_data_type(p) == PN_STRING ? pn_data_get_string(p) : pn_data_get_symbol(p);
            match = k.size == klen && memcmp(k.start, key, klen) == 0;
        }
        if (!pn_data_next(p))
            break;
        if (!match)
            continue;
        if (pn_data_type(p) == PN_STRING || pn_data_type(p) == PN_SYMBOL) {
            pn_bytes_t v =
                pn_data_type(p) == PN_STRING ? pn_data_get_string(p) : pn_data_get_symbol(p);
            rc = str_copy_n(out, cap, v.start, v.size) && !memchr(v.start, 0, v.size) ? 0 : -1;
        }
        break;
    }
    pn_data_exit(p);
    return rc;
}

static void put_string(pn_data_t *d, const char *s)
{
    pn_data_put_string(d, pn_bytes(strlen(s), s));
}

void amqp_reply_status(pn_message_t *req, pn_message_t *resp, int status, const char *description,
                       const char *condition)
{
    pn_message_set_correlation_id(resp, pn_message_get_id(req));
    const char *reply_to = pn_message_get_reply_to(req);
    if (reply_to)
        pn_message_set_address(resp, reply_to);
    pn_data_t *p = pn_message_properties(resp);
    pn_data_clear(p);
    pn_data_put_map(p);
    pn_data_enter(p);
    put_string(p, "status-code");
    pn_data_put_int(p, status);
    put_string(p, "status-description");
    put_string(p, description);
    if (condition) {
        put_string(p, "error-condition");
        pn_data_put_symbol(p, pn_bytes(strlen(condition), condition));
    }
    pn_data_exit(p);
}
