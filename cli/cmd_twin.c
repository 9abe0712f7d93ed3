/* iothub twin: placeholder until its work lands. */
#include "cli.h"

int cmd_twin(struct cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fprintf(stderr, "iothub: 'twin' is not available yet\n");
    return CLI_EXIT_ERROR;
}
