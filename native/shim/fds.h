/* Descriptors a shim process did not open itself never reach a container (the runc "leaky
 * vessels" class): whatever a caller left open without close-on-exec (a shell's `exec 200</`,
 * a daemon's parent) would otherwise be a handle on the host's filesystem inside it. */
#pragma once

/* Closes every descriptor >= lowest except keep (-1: none). 0, or -1 with shim_error set. */
int fds_close_from(int lowest, int keep);

/* Marks every descriptor >= lowest close-on-exec: the last step before an exec, so even one
 * opened by mistake after start-up cannot cross it. 0, or -1 with shim_error set. */
int fds_cloexec_from(int lowest);
