/* CBS put-token on $cbs (spec 5.2). The reply goes on our link that serves the client's
 * $cbs receiver in the request's session (never routed by reply-to, spec 7 item 18). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "common/sas.h"
#include "common/strbuf.h"
#include "hub/amqp/endpoint.h"
#include "hub/amqp/internal.h"
#include "hub/hub.h"

/* The token: an AMQP value string (or a data section / binary of UTF-8). */
static int body_token(pn_message_t *req, char *out, size_t cap)
{
    pn_data_t *b = pn_message_body(req);
    if (!b)
        return -1;
    pn_data_rewind(b);
    if (!pn_data_next(b))
        return -1;
    pn_bytes_t v;
    switch (pn_data_type(b)) {
    case PN_STRING:
        v = pn_data_get_string(b);
        break;
    case PN_BINARY:
        v = pn_data_get_binary(b);
        break;
    case PN_SYMBOL:
        v = pn_data_get_symbol(b);
        break;
    default:
        return -1;
    }
    if (memchr(v.start, 0, v.size))
        return -1;
    return str_copy_n(out, cap, v.start, v.size) ? 0 : -1;
}

void amqp_cbs_request(struct amqp_conn *c, pn_link_t *link, pn_message_t *req)
{
    const struct hub *hub = c->at->ep->hub;
    char operation[64] = "", type[128] = "", audience[1024] = "", why[512] = "";
    char *token = malloc(SAS_TOKEN_MAX + 1);
    int status = 400;
    if (!token) {
        snprintf(why, sizeof(why), "out of memory reading the request");
    } else if (amqp_app_prop(req, "operation", operation, sizeof(operation)) != 0 ||
               strcmp(operation, "put-token") != 0) {
        snprintf(why, sizeof(why), "$cbs supports only operation put-token, not '%.60s'",
                 operation);
    } else if (amqp_app_prop(req, "name", audience, sizeof(audience)) != 0 || !audience[0]) {
        snprintf(why, sizeof(why), "put-token needs the application property name (audience)");
    } else if (amqp_app_prop(req, "type", type, sizeof(type)) != 0) {
        snprintf(why, sizeof(why), "put-token needs the application property type");
    } else if (strcmp(type, "servicebus.windows.net:sastoken") != 0) {
        status = 401;
        snprintf(why, sizeof(why),
                 "token type '%.100s' is not supported: use a SAS token "
                 "(servicebus.windows.net:sastoken)",
                 type);
    } else if (body_token(req, token, SAS_TOKEN_MAX + 1) != 0) {
        snprintf(why, sizeof(why), "the put-token body holds no token string");
    } else {
        status = amqp_grants_put_token(&c->grants, hub, token, time_now_ms(), why, sizeof(why));
    }
    if (token) {
        memset(token, 0, SAS_TOKEN_MAX + 1);
        free(token);
    }
    char qa[1100], qw[600];
    if (status == 200)
        log_info("amqp cbs token accepted", "peer=%s audience=%s", c->peer,
                 log_quote(audience, qa, sizeof(qa)));
    else
        log_warn("amqp cbs token refused", "peer=%s audience=%s status=%d reason=%s", c->peer,
                 log_quote(audience, qa, sizeof(qa)), status, log_quote(why, qw, sizeof(qw)));

    pn_link_t *reply =
        amqp_link_find_reply(c, pn_link_session(link), "$cbs", pn_message_get_reply_to(req));
    if (!reply) {
        log_warn("amqp cbs reply dropped: the client has no $cbs receiver link", "peer=%s",
                 c->peer);
        return;
    }
    pn_message_t *resp = pn_message();
    if (!resp)
        return;
    amqp_reply_status(req, resp, status, status == 200 ? "OK" : why, NULL);
    if (amqp_link_send_message(c, reply, resp) != 0)
        log_error("cannot encode a cbs reply", "peer=%s", c->peer);
    pn_message_free(resp);
}
