/* The last steps before a container's process runs, shared by `run` and `exec`: user and
 * groups, rlimits, the capability set (caps.h), no_new_privs, the default seccomp profile, working
 * directory, and the PATH lookup of the command inside the container's root. */
#pragma once
#include "config.h"

/* Finds argv[0] via the container env's PATH; writes the path into out. 0 or -1 (shim_error). */
int resolve_command(const struct shim_config *c, char *out, size_t cap);

/* Switches credentials, drops capabilities, sets no_new_privs, changes directory and applies
 * seccomp (read compiled from seccomp_fd, or compiled here when it is -1), then execs. Returns
 * only on failure (-1 with shim_error set). */
int finish_and_exec(const struct shim_config *c, int seccomp_fd);

/* The same, but with init_fd >= 0 the exec'd program is shoal-init (the shim binary open at
 * init_fd), which runs the resolved command as its child (init.h). */
int finish_and_exec_via(const struct shim_config *c, int seccomp_fd, int init_fd);
