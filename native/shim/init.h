/* shoal-init: the small pid 1 of a container run with `init: true` (Docker runs tini there).
 * It is this same static binary, exec'd by the container's first process from a descriptor
 * opened before the pivot, so nothing is mounted into the container for it. It starts the
 * command as its child, forwards every signal it gets to it, reaps the orphans the kernel
 * gives it and exits with the command's status (128 + signal when killed). */
#pragma once

/* argv[0] every init gets; main() dispatches on it. */
#define SHOAL_INIT_NAME "shoal-init"

/* argv: shoal-init -- COMMAND ARGS... (COMMAND looked up in $PATH). Returns the exit status. */
int init_main(int argc, char **argv);
