#include "caps.h"
#include "util.h"
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Indexed by capability number (linux/capability.h), without the CAP_ prefix. */
static const char *const cap_names[] = {
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
  "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
  "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
  "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
  "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
  "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};
#define NCAPS ((int)(sizeof cap_names / sizeof *cap_names))

/* Docker's default capabilities (moby's oci/caps/defaults.go lists the same set). */
static const int default_caps[] = {
  CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW,
  CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE,
  CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

int caps_lookup(const char *name) {
  if (!strncasecmp(name, "CAP_", 4)) name += 4;
  for (int i = 0; i < NCAPS; i++)
    if (!strcasecmp(name, cap_names[i])) return i;
  return -1;
}

static int is_all(const char *name) {
  return !strcasecmp(name, "ALL") || !strcasecmp(name, "CAP_ALL");
}

/* Highest capability number the running kernel knows. */
static int last_cap(void) {
  char buf[16];
  if (read_file("/proc/sys/kernel/cap_last_cap", buf, sizeof buf) > 0) {
    int n = atoi(buf);
    if (n > 0 && n < 64) return n;
  }
  return CAP_LAST_CAP;
}

/* The shim's own permitted set: nothing outside it can be handed to a container. */
static uint64_t held_caps(void) {
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) < 0) return 0;
  return (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
}

/* Names to a mask; *all set when "ALL" is among them. */
static int names_mask(const char *const *names, int n, int last, const char *what, uint64_t *mask, int *all) {
  *mask = 0;
  *all = 0;
  for (int i = 0; i < n; i++) {
    if (is_all(names[i])) { *all = 1; continue; }
    int cap = caps_lookup(names[i]);
    if (cap < 0) return fail(0, "%s: unknown capability %s (use a name such as NET_ADMIN, or ALL)", what, names[i]);
    if (cap > last) return fail(0, "%s: capability %s is not known to this host's kernel", what, names[i]);
    *mask |= 1ULL << cap;
  }
  return 0;
}

int caps_compute(const struct shim_config *c, uint64_t *out) {
  uint64_t defaults = 0;
  for (size_t i = 0; i < sizeof default_caps / sizeof *default_caps; i++) defaults |= 1ULL << default_caps[i];
  /* the common case costs no file read */
  if (c->ncap_add == 0 && c->ncap_drop == 0) {
    *out = defaults & held_caps();
    return 0;
  }
  int last = last_cap();
  uint64_t known = last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1;
  uint64_t add, drop;
  int add_all, drop_all;
  if (names_mask(c->cap_add, c->ncap_add, last, "cap_add", &add, &add_all) < 0) return -1;
  if (names_mask(c->cap_drop, c->ncap_drop, last, "cap_drop", &drop, &drop_all) < 0) return -1;
  /* Docker's rules: add ALL wins (minus the named drops); drop ALL keeps only the named adds */
  uint64_t set = add_all ? known & ~drop : drop_all ? add : (defaults & ~drop) | add;
  uint64_t held = held_caps();
  uint64_t missing = add & ~held;
  if (missing) {
    int cap = __builtin_ctzll(missing);
    return fail(0, "cap_add: capability %s is not held by shoal on this host, so no container can have it",
                cap < NCAPS ? cap_names[cap] : "?");
  }
  /* ALL and the defaults mean "as much of it as there is" */
  *out = set & held & known;
  return 0;
}
