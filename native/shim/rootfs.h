/* The container's file-system view, built inside its own mount namespace: overlayfs rootfs,
 * pivot_root, /proc, /sys, /dev, bind and tmpfs mounts, masked and read-only paths. Nothing
 * here is visible from the host, so the namespace's death cleans it all up. */
#pragma once
#include "config.h"

/* Before pivot_root: clones each bind source as a detached mount (fds[i], one per bind), so
 * destinations can later be resolved inside the container root and never through host links. */
int rootfs_open_binds(const struct shim_config *c, int *fds);

/* Mounts the overlay, pivots into it, then /proc, /dev, /sys, bind and tmpfs mounts: all that
 * does not depend on the cgroup namespace. 0 or -1 with shim_error set. */
int rootfs_setup_early(const struct shim_config *c, const int *bind_fds);

/* Once in the cgroup namespace: the cgroup mounts, masked paths, read-only rootfs. */
int rootfs_setup_late(const struct shim_config *c);

/* Brings the loopback interface of a new network namespace up. */
int net_loopback_up(void);
