/* The shim's input: a file of NUL-terminated tokens written by agent/runtime/shim-config.ts.
 * Each entry is a key followed by its values (most keys take one value; "bind" takes three:
 * source, destination, "ro"|"rw"; "tmpfs" takes two: destination, mount options; "cgroupfs" takes three: dir,
 * fstype, options; "sysctl" two: name, value; "rlimit" three: name, soft, hard; "readonly" and
 * "init" none). Repeated
 * keys (layer, arg, env, group, procs, bind, tmpfs, mask, capadd, capdrop, sysctl, rlimit)
 * accumulate in order. */
#pragma once
#include <sys/types.h>

struct bind_mount { const char *src, *dst; int ro; };
struct tmpfs_mount { const char *dst, *opts; };
/* A cgroup hierarchy shown read-only at /sys/fs/cgroup/<dir> (dir "" = /sys/fs/cgroup itself). */
struct cgroup_mount { const char *dir, *fstype, *opts; };
struct sysctl_entry { const char *name, *value; };
/* Docker's ulimit name; -1 = unlimited */
struct rlimit_entry { const char *name; long long soft, hard; };

struct shim_config {
  const char *id, *state_dir, *rootfs, *upper, *work;
  const char **layers; int nlayers;          /* lowest first */
  int readonly;
  const char *hostname, *cwd;
  uid_t uid; gid_t gid;
  gid_t *groups; int ngroups;
  char **args; int nargs;                     /* NULL-terminated after parsing */
  char **env; int nenv;                       /* NULL-terminated after parsing */
  const char *net;                            /* "none", "host" or a netns path */
  const char **procs; int nprocs;             /* cgroup.procs files to join */
  const char *oom_file;                       /* memory.events (v2) or memory.oom_control (v1) */
  const char *devbpf;                         /* cgroup2 dir for the device BPF program (v2 hosts) */
  struct bind_mount *binds; int nbinds;
  struct tmpfs_mount *tmpfs; int ntmpfs;
  struct cgroup_mount *cgmounts; int ncgmounts;
  const char *log_path; long long log_max; int log_files;
  pid_t target_pid;                           /* exec mode: the container's init */
  const char **cap_add; int ncap_add;         /* capability names ("ALL" too), see caps.h */
  const char **cap_drop; int ncap_drop;
  struct sysctl_entry *sysctls; int nsysctls;
  struct rlimit_entry *rlimits; int nrlimits;
  int init;                                   /* run the command under shoal-init (init.h) */
};

/* Parses the file at path; returns 0, or -1 with shim_error set. */
int config_load(const char *path, struct shim_config *cfg);
