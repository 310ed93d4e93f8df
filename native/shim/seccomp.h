/* The default seccomp profile of shoal containers. */
#ifndef SHOAL_SHIM_SECCOMP_H
#define SHOAL_SHIM_SECCOMP_H

/* Installs the default profile in the calling (single-threaded) process: syscalls that reach
 * past the container's namespaces fail with EPERM, clone3 with ENOSYS (so libc falls back to
 * clone, whose flags the filter can see), and syscalls of other ABIs (32-bit x86 on x86_64,
 * arm32 on aarch64, x32) fail with EPERM. It does not set no_new_privs itself: the caller must
 * have set it, or still hold CAP_SYS_ADMIN. Returns 0, or -errno. */
int shim_seccomp_apply_default(void);

/* The same profile in two halves, so that a container start can compile it in the supervisor
 * while its init builds the rootfs: shim_seccomp_export writes the compiled BPF program to fd
 * (a pipe); shim_seccomp_apply_from reads it to EOF and installs it plus the personality
 * filter, refusing (-EINVAL) when nothing or a partial program arrived. Both 0 or -errno. */
int shim_seccomp_export(int fd);
int shim_seccomp_apply_from(int fd);

#endif
