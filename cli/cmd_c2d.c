/* iothub c2d: placeholder until its work lands. */
#include "cli.h"

int cmd_c2d(struct cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fprintf(stderr, "iothub: 'c2d' is not available yet\n");
    return CLI_EXIT_ERROR;
}
