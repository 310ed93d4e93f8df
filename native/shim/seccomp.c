/* The default seccomp profile: a deny-list (default allow) of syscalls that act on the whole
 * host rather than the container, widen the kernel's attack surface for little use, or create
 * namespaces. It aims at the effect of Docker's default profile for a container without
 * CAP_SYS_ADMIN; a deny-list keeps new harmless syscalls working, and the other ABIs, where a
 * deny-list by name is easy to get wrong, are refused entirely.
 *
 * Where it differs from Docker's default, and why:
 * - new syscalls are allowed until listed here (Docker refuses what it does not list);
 * - 32-bit x86 / arm32 / x32 syscalls are refused outright (Docker allows them by name);
 * - adjtimex, clock_adjtime and name_to_handle_at are refused even for reading;
 * - io_uring is refused, as in Docker 25 and later;
 * - the list does not relax when a container is granted capabilities: a privileged container
 *   should run without this profile instead.
 * Cost: the kernel caches the verdict of syscalls that are always allowed (Linux >= 5.11), so
 * only the listed and argument-checked syscalls run the filters. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* CLONE_NEW* from <sched.h> */
#endif
#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* Names unknown to this libseccomp or absent on this architecture are skipped. */
static const char *const denied[] = {
  /* Kernel code and boot: replace or extend the host kernel. */
  "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
  "create_module", "get_kernel_syms", "query_module",
  /* Host-wide state that no namespace isolates: swap, accounting, quotas, clocks. */
  "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "settimeofday", "clock_settime",
  "clock_adjtime", "adjtimex", "stime", "vhangup",
  /* Mounting and root switching (also need CAP_SYS_ADMIN, which containers lack). */
  "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
  "open_tree", "move_mount", "mount_setattr",
  /* Joining other namespaces (creating them is filtered by flag below). */
  "setns",
  /* File handles bypass the mount namespace's view of the tree (the "shocker" escape). */
  "open_by_handle_at", "name_to_handle_at",
  /* Kernel keyrings are not namespaced: keys would leak between containers. */
  "keyctl", "add_key", "request_key",
  /* Large kernel attack surface, tracing or profiling of the whole host. */
  "bpf", "perf_event_open", "lookup_dcookie", "fanotify_init", "syslog",
  "io_uring_setup", "io_uring_enter", "io_uring_register",
  /* userfaultfd stalls kernel page faults at will: a classic way to win kernel races. */
  "userfaultfd",
  /* Raw port I/O and old VM86 modes. */
  "iopl", "ioperm", "vm86", "vm86old",
  /* Obsolete interfaces kept only as attack surface. */
  "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl",
  /* NUMA placement affects memory other containers use (CAP_SYS_NICE in Docker). */
  "mbind", "move_pages", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages",
  /* Process introspection beyond what debuggers need; kcmp leaks kernel object identity. */
  "kcmp", "pidfd_getfd", "process_madvise",
};

/* ptrace and cross-process memory access. Before Linux 4.8 a tracer could rewrite a syscall
 * after seccomp had checked it, so there they are denied; from 4.8 on seccomp runs again after
 * the tracer, and the kernel's ptrace access checks keep them to the container's own
 * processes, so strace and gdb work inside a container (Docker makes the same choice). */
static const char *const denied_before_4_8[] = { "ptrace", "process_vm_readv", "process_vm_writev" };

/* Namespace-creating clone/unshare flags. clone's low byte is the exit signal, so
 * CLONE_NEWTIME (0x80) only applies to unshare. */
static const unsigned long ns_flags[] = {
  CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

static int kernel_at_least(int major, int minor) {
  struct utsname u;
  int ma = 0, mi = 0;
  if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2) return 0;
  return ma > major || (ma == major && mi >= minor);
}

static int deny_names(scmp_filter_ctx ctx, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int nr = seccomp_syscall_resolve_name(names[i]);
    if (nr < 0) continue; /* not a syscall of this architecture (libseccomp pseudo-number) */
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc < 0) return rc;
  }
  return 0;
}

static int deny_ns_flags(scmp_filter_ctx ctx) {
  int rc = 0;
  /* Each rule matches one flag; rules for the same syscall are OR-ed. Argument 0 carries the
   * flags on x86_64 and aarch64 (s390 swaps clone's first two arguments). */
  for (size_t i = 0; i < sizeof ns_flags / sizeof *ns_flags && rc == 0; i++) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    if (rc == 0)
      rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                            SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
  }
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME));
  /* clone3 passes its flags in memory the filter cannot read: answer "not implemented" so
   * glibc and musl retry with clone, whose flags the rules above check. */
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  return rc;
}

static int build(scmp_filter_ctx ctx) {
  int rc;
  /* Syscalls of a foreign ABI (int 0x80 on x86_64, arm32 on aarch64) get EPERM. */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM))) < 0) return rc;
  /* The shim decides about no_new_privs; libseccomp must not set it behind its back. */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0) return rc;
  if ((rc = deny_names(ctx, denied, sizeof denied / sizeof *denied)) < 0) return rc;
  if (!kernel_at_least(4, 8) &&
      (rc = deny_names(ctx, denied_before_4_8, sizeof denied_before_4_8 / sizeof *denied_before_4_8)) < 0)
    return rc;
  if ((rc = deny_ns_flags(ctx)) < 0) return rc;
  /* vsock reaches the hypervisor host, around the container's network namespace. */
  return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_VSOCK));
}

/* personality() may only keep the standard Linux personas (0, PER_LINUX32, their UNAME26
 * variants) or query (0xffffffff): flags like ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC or
 * MMAP_PAGE_ZERO weaken exploit mitigations. libseccomp can neither compare one argument twice
 * in a rule nor add allow rules to an allow-by-default filter, so this small filter is written
 * in BPF directly and stacked; the kernel applies the stricter answer of the two. */
#if defined(__x86_64__)
#define SHOAL_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SHOAL_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef SHOAL_AUDIT_ARCH
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the personality filter reads argument halves in little-endian order"
#endif
static int load_personality_filter(void) {
  const unsigned arg0_lo = offsetof(struct seccomp_data, args[0]);
  struct sock_filter prog[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SHOAL_AUDIT_ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* other ABIs: the main filter refuses them */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0_lo + 4), /* upper half must be zero */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 6),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0_lo),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0, 5, 0),        /* PER_LINUX */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x8, 4, 0),        /* PER_LINUX32 */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20000, 3, 0),    /* UNAME26 */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20008, 2, 0),    /* PER_LINUX32 | UNAME26 */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff, 1, 0), /* query only */
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog fprog = { .len = sizeof prog / sizeof *prog, .filter = prog };
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) return -errno;
  return 0;
}
#else
static int load_personality_filter(void) { return 0; } /* other arches: personality unfiltered */
#endif

int shim_seccomp_export(int fd) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == NULL) return -ENOMEM;
  int rc = build(ctx);
  if (rc == 0) rc = seccomp_export_bpf(ctx, fd);
  seccomp_release(ctx);
  return rc < 0 ? rc : (rc > 0 ? -rc : 0);
}

int shim_seccomp_apply_from(int fd) {
  /* a few hundred instructions at most; BPF_MAXINSNS bounds what the kernel accepts anyway */
  static struct sock_filter prog[BPF_MAXINSNS];
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, (char *)prog + got, sizeof prog - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0 || (got += (size_t)n) == sizeof prog) break;
  }
  /* nothing (the supervisor could not compile it) or a torn program: refuse, never run unfiltered */
  if (got == 0 || got % sizeof *prog != 0) return -EINVAL;
  struct sock_fprog fprog = { .len = (unsigned short)(got / sizeof *prog), .filter = prog };
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) return -errno;
  return load_personality_filter();
}

int shim_seccomp_apply_default(void) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == NULL) return -ENOMEM;
  int rc = build(ctx);
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc == 0) rc = load_personality_filter();
  return rc < 0 ? rc : (rc > 0 ? -rc : 0);
}
