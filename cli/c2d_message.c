/* Building the service's cloud-to-device message (see c2d_message.h). The field choices are
 * the ones Node azure-iothub makes (fixtures/wire/amqps-service-client.txt): string
 * message-id and correlation-id, `to` with the percent-encoded device id, iothub-ack as a
 * string application property, the payload as one data section. */
#include "c2d_message.h"

#include <proton/codec.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/random.h"
#include "common/urlcode.h"

int c2d_prop_parse(char *arg, struct c2d_prop *out, char *why, size_t cap)
{
    char *eq = strchr(arg, '=');
    if (!eq) {
        snprintf(why, cap, "'--prop' expects NAME=VALUE, not '%s'", arg);
        return -1;
    }
    *eq = '\0';
    if (arg[0] == '\0') {
        snprintf(why, cap, "'--prop' needs a property name before '='");
        return -1;
    }
    if (arg[0] == '$') {
        snprintf(why, cap,
                 "property '%s': names starting with '$' are system properties; use "
                 "--message-id, --correlation-id, --content-type or --content-encoding",
                 arg);
        return -1;
    }
    if (strcasecmp(arg, "iothub-ack") == 0) {
        snprintf(why, cap, "property '%s': use --ack to ask for delivery feedback", arg);
        return -1;
    }
    out->name = arg;
    out->value = eq + 1;
    return 0;
}

int c2d_ack_valid(const char *ack)
{
    static const char *const modes[] = {"none", "positive", "negative", "full"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(ack, modes[i]) == 0)
            return 1;
    return 0;
}

int c2d_to_address(const char *device_id, char *out, size_t cap)
{
    char enc[3 * 128 + 1];
    if (url_encode_component(device_id, strlen(device_id), enc, sizeof(enc)) < 0)
        return -1;
    int n = snprintf(out, cap, "/devices/%s/messages/devicebound", enc);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int c2d_uuid(char out[37])
{
    uint8_t b[16];
    if (random_bytes(b, sizeof(b)) != 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

static void put_string(pn_data_t *d, const char *s)
{
    pn_data_put_string(d, pn_bytes(strlen(s), s));
}

int c2d_message_build(const struct c2d_message *m, pn_message_t *msg, char *why, size_t cap)
{
    char to[512];
    if (!m->device_id || !m->device_id[0] || c2d_to_address(m->device_id, to, sizeof(to)) != 0) {
        snprintf(why, cap, "the device id is empty or too long");
        return -1;
    }
    if (!m->message_id || !m->message_id[0] || strlen(m->message_id) >= C2D_MESSAGE_ID_MAX) {
        snprintf(why, cap, "the message id must be 1 to %d characters", C2D_MESSAGE_ID_MAX - 1);
        return -1;
    }
    if (m->ack && !c2d_ack_valid(m->ack)) {
        snprintf(why, cap, "ack mode '%s' is not none, positive, negative or full", m->ack);
        return -1;
    }
    for (size_t i = 0; i < m->nprops; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->props[i].name, m->props[j].name) == 0) {
                snprintf(why, cap, "property '%s' is given twice", m->props[i].name);
                return -1;
            }

    pn_message_clear(msg);
    /* Inferred: a binary body is encoded as a data section, not an amqp-value. */
    pn_message_set_inferred(msg, true);
    put_string(pn_message_id(msg), m->message_id);
    pn_message_set_address(msg, to);
    if (m->correlation_id)
        put_string(pn_message_correlation_id(msg), m->correlation_id);
    if (m->content_type)
        pn_message_set_content_type(msg, m->content_type);
    if (m->content_encoding)
        pn_message_set_content_encoding(msg, m->content_encoding);
    if (m->expiry_ms > 0)
        pn_message_set_expiry_time(msg, m->expiry_ms);

    if (m->ack || m->nprops) {
        pn_data_t *ap = pn_message_properties(msg);
        pn_data_put_map(ap);
        pn_data_enter(ap);
        if (m->ack) {
            put_string(ap, "iothub-ack");
            put_string(ap, m->ack);
        }
        for (size_t i = 0; i < m->nprops; i++) {
            put_string(ap, m->props[i].name);
            put_string(ap, m->props[i].value);
        }
        pn_data_exit(ap);
    }

    pn_data_put_binary(pn_message_body(msg), pn_bytes(m->body_len, m->body_len ? m->body : ""));
    return 0;
}
