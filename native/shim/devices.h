/* Device access for cgroup v2 hosts, which have no `devices` controller: a small eBPF program
 * of type CGROUP_DEVICE on the container's cgroup allows creating any node but opening only
 * the standard ones (null zero full random urandom tty console ptmx and the ptys), as Docker does. */
#pragma once

/* Loads the program and attaches it to the cgroup2 directory; 0, or -1 with shim_error set. */
int devices_bpf_attach(const char *cgroup_dir);
