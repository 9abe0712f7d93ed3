/* `iothubd --dump-events`: prints every retained telemetry record as one JSON object per
 * line, for operators and tests. It opens the log like the daemon does (so it needs the
 * data directory's lock: stop the daemon first) and runs the same recovery. */
#ifndef IOTHUB_HUB_DUMP_EVENTS_H
#define IOTHUB_HUB_DUMP_EVENTS_H

#include <stdio.h>

struct eventlog;

/* Returns 0, or -1 after printing a reason to stderr. */
int dump_events(struct eventlog *log, FILE *out);

#endif
