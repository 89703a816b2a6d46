/* main.c — the entry point: hands argv to the command line (cli.c) and nothing else. */
#include "cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
