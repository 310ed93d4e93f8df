/* `shoal-shim run CONFIG`: starts a container and supervises it until it exits. */
#pragma once
#include "config.h"

/* Forks the daemonized supervisor; prints "ok <init pid>" or "error <message>" on stdout once
 * the container's process has exec'd (or failed to) and returns the shim's exit code. */
int run_container(const struct shim_config *c);
