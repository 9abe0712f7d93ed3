/* $management READ of the event hub and of its partitions (spec 5.4). */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "hub/amqp/address.h"
#include "hub/amqp/endpoint.h"
#include "hub/amqp/internal.h"
#include "hub/hub.h"
#include "store/eventlog.h"

static void put_string(pn_data_t *d, const char *s)
{
    pn_data_put_string(d, pn_bytes(strlen(s), s));
}

static void eventhub_body(const struct amqp_endpoint *ep, pn_data_t *d)
{
    const struct hub *hub = ep->hub;
    uint32_t count = eventlog_partition_count(hub->eventlog);
    pn_data_put_map(d);
    pn_data_enter(d);
    put_string(d, "name");
    put_string(d, hub->hub_name);
    put_string(d, "type");
    put_string(d, "com.microsoft:eventhub");
    put_string(d, "created_at");
    pn_data_put_timestamp(d, ep->created_ms);
    put_string(d, "partition_count");
    pn_data_put_int(d, (int32_t)count);
    put_string(d, "partition_ids");
    pn_data_put_array(d, false, PN_STRING);
    pn_data_enter(d);
    for (uint32_t i = 0; i < count; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%u", i);
        put_string(d, id);
    }
    pn_data_exit(d);
    pn_data_exit(d);
}

static int partition_body(const struct amqp_endpoint *ep, uint32_t p, pn_data_t *d)
{
    const struct hub *hub = ep->hub;
    struct eventlog_partition_info info;
    if (eventlog_partition_info(hub->eventlog, p, &info) != 0)
        return -1;
    char id[16], offset[24];
    snprintf(id, sizeof(id), "%u", p);
    /* Nothing ever enqueued: last = -1. Empty after retention: begin = last + 1. */
    bool never = info.empty && info.first_seq == 0;
    int64_t last_seq = never ? -1 : (int64_t)info.last_seq;
    int64_t begin = info.empty ? last_seq + 1 : (int64_t)info.first_seq;
    if (never)
        snprintf(offset, sizeof(offset), "-1");
    else
        snprintf(offset, sizeof(offset), "%llu", (unsigned long long)info.last_offset);
    pn_data_put_map(d);
    pn_data_enter(d);
    put_string(d, "name");
    put_string(d, hub->hub_name);
    put_string(d, "type");
    put_string(d, "com.microsoft:partition");
    put_string(d, "partition");
    put_string(d, id);
    put_string(d, "begin_sequence_number");
    pn_data_put_long(d, begin);
    put_string(d, "last_enqueued_sequence_number");
    pn_data_put_long(d, last_seq);
    put_string(d, "last_enqueued_offset");
    put_string(d, offset);
    put_string(d, "last_enqueued_time_utc");
    pn_data_put_timestamp(d, never ? 0 : info.last_enqueued_ms);
    put_string(d, "is_partition_empty");
    pn_data_put_bool(d, info.empty);
    pn_data_exit(d);
    return 0;
}

void amqp_management_request(struct amqp_conn *c, pn_link_t *link, pn_message_t *req)
{
    const struct amqp_endpoint *ep = c->at->ep;
    char operation[64] = "", type[128] = "", name[256] = "", partition[32] = "", why[512] = "";
    int status = 200;
    const char *condition = NULL;
    pn_message_t *resp = pn_message();
    if (!resp)
        return;
    pn_data_t *body = pn_message_body(resp);
    amqp_app_prop(req, "operation", operation, sizeof(operation));
    amqp_app_prop(req, "type", type, sizeof(type));
    amqp_app_prop(req, "name", name, sizeof(name));
    amqp_app_prop(req, "partition", partition, sizeof(partition));
    if (strcmp(operation, "READ") != 0) {
        status = 400;
        condition = "amqp:not-implemented";
        snprintf(why, sizeof(why), "$management supports only operation READ, not '%.60s'",
                 operation);
    } else if (strcmp(name, ep->hub->hub_name) != 0) {
        status = 404;
        condition = "amqp:not-found";
        snprintf(why, sizeof(why), "no event hub named '%.100s' here (the name is '%s')", name,
                 ep->hub->hub_name);
    } else if (strcmp(type, "com.microsoft:eventhub") == 0) {
        eventhub_body(ep, body);
    } else if (strcmp(type, "com.microsoft:partition") == 0) {
        uint32_t p;
        if (amqp_partition_parse(partition, eventlog_partition_count(ep->hub->eventlog), &p) != 0) {
            status = 404;
            condition = "amqp:not-found";
            snprintf(why, sizeof(why), "no partition '%.20s' (partitions are 0 to %u)", partition,
                     eventlog_partition_count(ep->hub->eventlog) - 1);
        } else if (partition_body(ep, p, body) != 0) {
            status = 500;
            condition = "amqp:internal-error";
            snprintf(why, sizeof(why), "cannot read partition %u's state", p);
        }
    } else {
        status = 400;
        condition = "amqp:not-implemented";
        snprintf(why, sizeof(why),
                 "unknown READ type '%.100s' (com.microsoft:eventhub or "
                 "com.microsoft:partition)",
                 type);
    }
    if (status != 200) {
        pn_data_clear(body);
        char quoted[600];
        log_info("amqp management request refused", "peer=%s status=%d reason=%s", c->peer, status,
                 log_quote(why, quoted, sizeof(quoted)));
    }
    amqp_reply_status(req, resp, status, status == 200 ? "OK" : why, condition);
    pn_link_t *reply =
        amqp_link_find_reply(c, pn_link_session(link), "$management", pn_message_get_reply_to(req));
    if (!reply)
        log_warn("amqp management reply dropped: no $management receiver link", "peer=%s", c->peer);
    else if (amqp_link_send_message(c, reply, resp) != 0)
        log_error("cannot encode a management reply", "peer=%s", c->peer);
    pn_message_free(resp);
}
