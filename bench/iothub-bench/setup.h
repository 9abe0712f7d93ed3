/* Run set-up (setup.c). Each returns 0 or -1 after an error message. */
#ifndef IOTHUB_BENCH_SETUP_H
#define IOTHUB_BENCH_SETUP_H

#include "bench.h"

int setup_target(struct bench *b);
int setup_tls(struct bench *b);
/* The payload bytes and the per-connection output buffer size (needs b->devs). */
int setup_payload(struct bench *b);
/* Raises the soft file limit to fit the connections (warns when the hard one is lower). */
void setup_nofile(int connections);

#endif
