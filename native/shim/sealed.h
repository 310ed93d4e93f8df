/* Every process that runs shim code (supervisor, `exec`, a container's init) runs a sealed
 * in-memory copy of the binary, never the host's file: the defence runc adopted after
 * CVE-2019-5736. A container process can reach the executable of a process in its pid
 * namespace through /proc/PID/exe (the `exec` child before it execs, a `#!/proc/self/exe`
 * script run by exec, the init of `init: true`); with the host's file there it could read it,
 * hold it open and overwrite it once no one executes it, and the next start would run the
 * attacker's code as root on the host. A memfd with write, grow, shrink and seal seals (and
 * exec-mode seal where the kernel has it) cannot be changed by anyone, and it is a different
 * inode from the host file.
 *
 * Why a memfd and not a read-only bind mount of the binary or an O_TMPFILE copy: it needs no
 * mount namespace of the shim's own and no writable directory, and it disappears with its last
 * user. Its cost is one copy of the binary (about 1 MB), so the addon makes it once per agent
 * process and spawns every shim from it (native/src/spawn.cc): then the check below is one
 * open and one fcntl. Only a shim started some other way (by hand) copies itself. */
#pragma once

/* Name of the copy: /proc/PID/exe reads "/memfd:shoal-shim (deleted)". */
#define SEALED_NAME "shoal-shim"

/* Returns 0 when this process already runs a sealed copy; otherwise makes one and re-execs
 * it with the same argv and environment (does not return), or -1 with shim_error set. */
int sealed_exe_ensure(char **argv);
