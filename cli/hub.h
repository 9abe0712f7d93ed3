/* The hub's REST API as the CLI sees it: a hub connection string, a keep-alive HTTPS
 * client, one SAS token per request, JSON in and out, and the hub's error answers turned
 * into a message on stderr and a CLI exit code (cli.h). */
#ifndef IOTHUB_CLI_HUB_H
#define IOTHUB_CLI_HUB_H

#include <jansson.h>
#include <stddef.h>

#define HUB_API_VERSION "2021-04-12"

struct hub;

/* Parses the hub connection string `login` (HostName, SharedAccessKeyName,
 * SharedAccessKey) and creates the HTTPS client, trusting cafile when not NULL. Returns
 * CLI_EXIT_OK and *out, or an exit code after printing why (never the key). */
int hub_open(const char *login, const char *cafile, struct hub **out);

/* Closes the connection and wipes the key. NULL is allowed. */
void hub_close(struct hub *h);

/* HostName exactly as written in the connection string (it may carry a :port). */
const char *hub_host(const struct hub *h);
/* SharedAccessKeyName and SharedAccessKey of the connection string. */
const char *hub_policy(const struct hub *h);
const char *hub_key(const struct hub *h);

/* Writes prefix + encodeURIComponent(id) (+ suffix, may be NULL) into out. Returns 0, or
 * -1 when it does not fit. */
int hub_path(char *out, size_t cap, const char *prefix, const char *id, const char *suffix);

/* Sends `method path?api-version=...` (path already encoded, may hold a query) with body
 * as JSON when not NULL and If-Match: "etag" when etag is not NULL (surrounding quotes
 * in etag are ignored). On 2xx returns CLI_EXIT_OK and stores the parsed JSON response in
 * *out (NULL for an empty body; the caller owns the reference); out may be NULL. On
 * failure prints `error: <code>: <text>` to stderr and returns the exit code. */
int hub_call(struct hub *h, const char *method, const char *path, const json_t *body,
             const char *etag, json_t **out);

/* How long each later request may take in all, in seconds (0: the default, 120 s); for
 * requests the hub answers late on purpose (direct methods). */
void hub_set_timeout(struct hub *h, long seconds);

#endif
