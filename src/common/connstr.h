/* Connection strings: `Key=Value` pairs separated by ';', each split at its first '='
 * (spec section 1.1). Keys are case-sensitive. */
#ifndef IOTHUB_COMMON_CONNSTR_H
#define IOTHUB_COMMON_CONNSTR_H

#include <stdbool.h>
#include <stddef.h>

#define CONNSTR_MAX       4096
#define CONNSTR_VALUE_MAX 1024

struct connstr {
    char host_name[CONNSTR_VALUE_MAX];               /* HostName */
    char shared_access_key_name[CONNSTR_VALUE_MAX];  /* SharedAccessKeyName */
    char shared_access_key[CONNSTR_VALUE_MAX];       /* SharedAccessKey */
    char shared_access_signature[CONNSTR_VALUE_MAX]; /* SharedAccessSignature */
    char device_id[CONNSTR_VALUE_MAX];               /* DeviceId */
    char module_id[CONNSTR_VALUE_MAX];               /* ModuleId */
    char gateway_host_name[CONNSTR_VALUE_MAX];       /* GatewayHostName */
    char endpoint[CONNSTR_VALUE_MAX];                /* Endpoint (Event Hubs) */
    char entity_path[CONNSTR_VALUE_MAX];             /* EntityPath (Event Hubs) */
    bool x509;                                       /* x509=true */
};

enum connstr_kind {
    CONNSTR_INVALID = -1,
    CONNSTR_HUB = 1,    /* HostName + SharedAccessKeyName + SharedAccessKey */
    CONNSTR_DEVICE = 2, /* HostName + DeviceId + exactly one credential */
    CONNSTR_MODULE = 3, /* device + ModuleId */
    CONNSTR_EVENTHUB = 4,
};

/* Parses s. Unknown keys are ignored; a repeated key, a pair without '=', an empty key or a
 * value longer than CONNSTR_VALUE_MAX-1 is an error. On error returns -1 and writes a
 * human reason (naming the offending key, never a value) to err. */
int connstr_parse(const char *s, struct connstr *out, char *err, size_t errlen);

/* Classifies a parsed string by the rules of section 1.1. On CONNSTR_INVALID writes the
 * reason to err. */
enum connstr_kind connstr_kind(const struct connstr *cs, char *err, size_t errlen);

#endif
