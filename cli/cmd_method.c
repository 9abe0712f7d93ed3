/* iothub method: placeholder until its work lands. */
#include "cli.h"

int cmd_method(struct cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fprintf(stderr, "iothub: 'method' is not available yet\n");
    return CLI_EXIT_ERROR;
}
