/* TEMPORARY stand-in for native/shim/seccomp.c (owned by the cgroups+seccomp engineer): a
 * deny-list that makes a few dangerous syscalls fail with EPERM. Deleted once theirs lands. */
#include <errno.h>
#include <seccomp.h>

int shim_seccomp_apply_default(void) {
  static const int denied[] = {
    SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(mount),
    SCMP_SYS(umount2), SCMP_SYS(reboot), SCMP_SYS(kexec_load), SCMP_SYS(swapon),
    SCMP_SYS(swapoff), SCMP_SYS(init_module), SCMP_SYS(finit_module), SCMP_SYS(delete_module),
    SCMP_SYS(acct), SCMP_SYS(settimeofday), SCMP_SYS(clock_settime), SCMP_SYS(unshare),
    SCMP_SYS(setns), SCMP_SYS(pivot_root), SCMP_SYS(bpf), SCMP_SYS(perf_event_open),
  };
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return -ENOMEM;
  int rc = 0;
  for (unsigned i = 0; i < sizeof denied / sizeof *denied && rc == 0; i++)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0);
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  return rc;
}
