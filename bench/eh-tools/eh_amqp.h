/* eh_amqp: a minimal Event Hubs consumer over Qpid Proton-C for the benchmarks in
 * bench/eventhubs-consumer (eh-drain, eh-latency-consumer). One connection, TLS, SASL
 * ANONYMOUS, one CBS put-token for the whole entity, $management READ of the event hub (and,
 * when asked, of every partition), then one receiver per partition with a selector filter and
 * a fixed link credit topped up as events arrive. The hub sends events pre-settled; the tool
 * settles each delivery as soon as it has read it. */
#ifndef EH_AMQP_H
#define EH_AMQP_H

#include <proton/message.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EH_MAX_PARTITIONS 64

struct eh_partition_info {
    char id[32];
    int64_t begin_seq; /* from the partition READ; last + 1 when empty */
    int64_t last_seq;  /* -1 when nothing was ever enqueued */
};

struct eh_consumer;

struct eh_callbacks {
    /* Every partition READ answered (only with read_partitions). */
    void (*on_partitions)(struct eh_consumer *c, void *ctx);
    /* Every receiver attached. */
    void (*on_ready)(struct eh_consumer *c, void *ctx);
    /* One event: the raw AMQP message bytes, and the decoded message when decode is set. */
    void (*on_event)(struct eh_consumer *c, void *ctx, size_t partition, const char *bytes,
                     size_t len, pn_message_t *msg);
    /* The proactor's timer fired (armed with eh_consumer_set_timer). */
    void (*on_timer)(struct eh_consumer *c, void *ctx);
};

struct eh_options {
    const char *connection_string; /* Endpoint=sb://host/;SharedAccessKeyName=..;... */
    const char *cafile;
    const char *connect_host; /* default: the Endpoint's host */
    int port;                 /* default 5671 */
    const char *consumer_group;
    const char *filter; /* selector filter text */
    int credit;         /* per receiver */
    bool decode;        /* pn_message_decode every event */
    bool read_partitions;
};

/* 0 and a consumer in *out, or -1 with a message on stderr. */
int eh_consumer_new(struct eh_consumer **out, const struct eh_options *o,
                    const struct eh_callbacks *cb, void *ctx);
/* Runs until eh_consumer_stop and the connection is closed. 0, or 1 after an error. */
int eh_consumer_run(struct eh_consumer *c);
void eh_consumer_stop(struct eh_consumer *c);
void eh_consumer_free(struct eh_consumer *c);
/* The timer fires on_timer once, ms from now. */
void eh_consumer_set_timer(struct eh_consumer *c, int64_t ms);

size_t eh_consumer_partitions(const struct eh_consumer *c, const struct eh_partition_info **out);
/* Opens the receivers (after on_partitions, or at once when read_partitions is off). */
void eh_consumer_open_receivers(struct eh_consumer *c);

/* Annotation lookup helpers on a decoded message. */
bool eh_annotation_int(pn_message_t *msg, const char *key, int64_t *out);

int64_t eh_now_ns(void); /* CLOCK_REALTIME */
int64_t eh_mono_ns(void);

#endif
