/* Link addresses of the AMQP endpoint (spec 0.3, 5.1, 5.4): normalised (`/x`, `x` and
 * `amqps://{host}[:port]/x` are the same address) and classified. Pure. */
#ifndef IOTHUB_HUB_AMQP_ADDRESS_H
#define IOTHUB_HUB_AMQP_ADDRESS_H

#include <stddef.h>
#include <stdint.h>

#define AMQP_ADDRESS_MAX 512
#define AMQP_SEGMENT_MAX 128

enum amqp_address_kind {
    AMQP_ADDR_OTHER = 0,
    AMQP_ADDR_CBS = 1,        /* $cbs */
    AMQP_ADDR_MANAGEMENT = 2, /* $management */
    AMQP_ADDR_PARTITION = 3,  /* {entity}/ConsumerGroups/{cg}/Partitions/{p} */
    AMQP_ADDR_C2D = 4,        /* messages/devicebound (service sends C2D, spec 5.3) */
    AMQP_ADDR_FEEDBACK = 5,   /* messages/servicebound/feedback (delivery feedback) */
};

struct amqp_address {
    enum amqp_address_kind kind;
    char path[AMQP_ADDRESS_MAX]; /* scheme, host and leading '/' removed */
    /* AMQP_ADDR_PARTITION only (as sent; fixed words matched case-insensitively): */
    char entity[AMQP_SEGMENT_MAX];
    char consumer_group[AMQP_SEGMENT_MAX];
    char partition[AMQP_SEGMENT_MAX];
};

/* Returns 0, or -1 when addr is NULL, empty or too long. */
int amqp_address_parse(const char *addr, struct amqp_address *out);

/* The `to` of a service C2D message: /devices/{percent-encoded id}/messages/devicebound
 * (fixed words in any case, leading '/' or amqps://{host} optional). Writes the decoded,
 * valid device id. Returns 0, -1 (not that form or a bad id) or -2 (a module's address:
 * /devices/{d}/modules/{m}/messages/devicebound). */
int amqp_c2d_target_parse(const char *to, char *device_id, size_t cap);

/* Parses a partition id ("0".."31") below count. Returns 0 or -1. */
int amqp_partition_parse(const char *s, uint32_t count, uint32_t *out);

#endif
