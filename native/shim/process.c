#include "process.h"
#include "util.h"
#include "seccomp.h"
#include "caps.h"
#include "fds.h"
#include "init.h"
#include "options.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <grp.h>
#include <signal.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *env_path(const struct shim_config *c) {
  for (int i = 0; i < c->nenv; i++)
    if (!strncmp(c->env[i], "PATH=", 5)) return c->env[i] + 5;
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

static int executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int resolve_command(const struct shim_config *c, char *out, size_t cap) {
  const char *cmd = c->args[0];
  if (cmd[0] == 0) return fail(0, "empty command");
  if (strchr(cmd, '/')) {
    if (!executable(cmd)) {
      struct stat st;
      if (stat(cmd, &st) < 0) return fail(0, "command %s not found in the container", cmd);
      return fail(0, "command %s is not an executable file", cmd);
    }
    snprintf(out, cap, "%s", cmd);
    return 0;
  }
  const char *p = env_path(c);
  while (*p) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    if (len > 0 && (size_t)snprintf(out, cap, "%.*s/%s", (int)len, p, cmd) < cap && executable(out)) return 0;
    p += len + (colon ? 1 : 0);
  }
  return fail(0, "command %s not found in $PATH (%s) of the container", cmd, env_path(c));
}

static int set_caps(uint64_t caps) {
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (int i = 0; i < 2; i++) {
    uint32_t word = (uint32_t)(caps >> (32 * i));
    data[i].effective = data[i].permitted = word;
  }
  if (syscall(SYS_capset, &hdr, data) < 0) return fail(1, "capset");
  return 0;
}

int finish_and_exec(const struct shim_config *c, int seccomp_fd) {
  return finish_and_exec_via(c, seccomp_fd, -1);
}

int finish_and_exec_via(const struct shim_config *c, int seccomp_fd, int init_fd) {
  char path[4096];
  uint64_t allowed;
  /* nothing but stdio crosses the exec (the seccomp and init descriptors are used before or
   * by it); done while /proc/self/fd is still ours to read, before the credentials change */
  if (fds_cloexec_from(3) < 0) return -1;
  if (caps_compute(c, &allowed) < 0) return -1;
  /* while CAP_SYS_RESOURCE is still held: raising a hard limit needs it */
  if (rlimits_apply(c) < 0) return -1;
  /* Bounding set first: dropping needs CAP_SETPCAP, which we still hold as root. */
  for (int cap = 0; cap < 64; cap++) {
    if (allowed & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break; /* past the kernel's last capability */
      return fail(1, "drop capability %d from the bounding set", cap);
    }
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return fail(1, "keepcaps");
  if (setgroups((size_t)c->ngroups, c->groups) < 0) return fail(1, "setgroups");
  if (setresgid(c->gid, c->gid, c->gid) < 0) return fail(1, "setgid %u", (unsigned)c->gid);
  if (setresuid(c->uid, c->uid, c->uid) < 0) return fail(1, "setuid %u", (unsigned)c->uid);
  /* As Docker: root holds the whole set; another user keeps only the bounding set, so it gains
   * capabilities only from file capabilities (no inheritable or ambient ones are handed out). */
  if (set_caps(c->uid == 0 ? allowed : 0) < 0) return -1;
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return fail(1, "clear ambient capabilities");
  if (chdir(c->cwd) < 0) return fail(1, "working directory %s", c->cwd);
  if (resolve_command(c, path, sizeof path) < 0) return -1;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return fail(1, "no_new_privs");
  trace("init: credentials set");
  int rc = seccomp_fd >= 0 ? shim_seccomp_apply_from(seccomp_fd) : shim_seccomp_apply_default();
  trace("init: seccomp applied");
  if (rc != 0) {
    errno = rc < 0 ? -rc : rc;
    return fail(1, "apply the default seccomp profile");
  }
  if (init_fd >= 0) {
    /* shoal-init -- ARGS...: the init's execvp finds the command as resolve_command() just did
     * (same $PATH and directory), and the command keeps its own argv[0] */
    char **argv = calloc((size_t)c->nargs + 3, sizeof *argv);
    if (!argv) return fail(1, "init arguments");
    argv[0] = SHOAL_INIT_NAME;
    argv[1] = "--";
    for (int i = 0; i < c->nargs; i++) argv[i + 2] = c->args[i];
    /* blocked across the exec (the mask survives it): a stop() that lands before the init
     * has set itself up waits for it instead of hitting a pid 1 that ignores it */
    sigset_t all, before;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &before);
    syscall(SYS_execveat, init_fd, "", argv, c->env, AT_EMPTY_PATH);
    sigprocmask(SIG_SETMASK, &before, NULL);
    return fail(1, "exec %s for %s", SHOAL_INIT_NAME, path);
  }
  execve(path, c->args, c->env);
  return fail(1, "exec %s", path);
}
