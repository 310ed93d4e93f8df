/* `shoal-shim exec CONFIG`: runs one more process inside a running container. */
#pragma once
#include "config.h"

/* Joins the cgroup and every namespace of c->target_pid, runs the command with the caller's
 * stdio, and returns its exit code (128+signal if killed). A failure before the command runs is
 * written as "error <message>" to report_fd (when open) and to stderr, with exit code 127. */
int exec_in_container(const struct shim_config *c, int report_fd);
