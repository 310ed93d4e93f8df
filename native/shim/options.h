/* Per-container kernel settings that are not mounts or cgroups: namespaced sysctls (written
 * by the init once it is in the container's namespaces) and resource limits (setrlimit before
 * the exec, inherited by every process of the container). */
#pragma once
#include "config.h"

/* The RLIMIT_* number of a Docker ulimit name (nofile, nproc, core, ...), or -1. */
int rlimit_lookup(const char *name);

/* Writes each sysctl under /proc/sys, as seen from the caller's namespaces. 0 or -1 (shim_error). */
int sysctls_apply(const struct shim_config *c);

/* setrlimit for each configured limit. 0 or -1 (shim_error). */
int rlimits_apply(const struct shim_config *c);
