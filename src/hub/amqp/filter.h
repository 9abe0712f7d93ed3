/* The Event Hubs selector filter of a receiver link (spec 5.4): where reading starts.
 *
 *   amqp.annotation.x-opt-offset > '-1'              earliest retained event
 *   amqp.annotation.x-opt-offset > '@latest'         only events enqueued after the attach
 *   amqp.annotation.x-opt-offset >[=] '12345'        after (at) a byte offset
 *   amqp.annotation.x-opt-sequence-number >[=] '7'   after (at) a sequence number
 *   amqp.annotation.x-opt-enqueued-time >[=] '1700000000000'   after (at) a time, ms
 *
 * Pure: needs only libc, so the fuzz target includes this file directly. */
#ifndef IOTHUB_HUB_AMQP_FILTER_H
#define IOTHUB_HUB_AMQP_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AMQP_FILTER_MAX 1024

enum amqp_filter_start {
    AMQP_START_EARLIEST = 0, /* the oldest retained event */
    AMQP_START_LATEST = 1,   /* events committed after the link attached */
    AMQP_START_OFFSET = 2,   /* value = byte offset */
    AMQP_START_SEQ = 3,      /* value = sequence number */
    AMQP_START_TIME = 4,     /* value = enqueued time, ms since the epoch */
};

struct amqp_filter {
    enum amqp_filter_start start;
    int64_t value;  /* >= 0 for OFFSET, SEQ, TIME */
    bool inclusive; /* ">=" rather than ">" */
};

/* Parses len bytes of expr (no NUL needed). Returns 0, or -1 with a reason in err that
 * names what was wrong and what is accepted. */
int amqp_filter_parse(const char *expr, size_t len, struct amqp_filter *out, char *err,
                      size_t errlen);

#endif
