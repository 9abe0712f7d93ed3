#include "hub/rest/errors.h"

static const struct {
    const char *name;
    int number;
    int status;
} table[] = {
#define X(id, name, number, status) [id] = {name, number, status},
    HUB_ERRORS(X)
#undef X
};

const char *hub_error_name(enum hub_error e)
{
    return table[e].name;
}

int hub_error_number(enum hub_error e)
{
    return table[e].number;
}

int hub_error_http_status(enum hub_error e)
{
    return table[e].status;
}
