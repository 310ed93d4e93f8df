/* `shoal-shim run CONFIG`: starts a container and supervises it until it exits. */
#pragma once
#include "config.h"

/* Forks the daemonized supervisor and returns at once. The supervisor writes "ok <init pid>"
 * or "error <message>" on the stdout it inherited once the container's process has exec'd (or
 * failed to), then closes it: the caller reads that pipe to its end. With in_place the calling
 * process becomes the supervisor itself (its spawner made it a session leader). */
int run_container(const struct shim_config *c, int in_place);
