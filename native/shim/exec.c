#include "exec.h"
#include "process.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <stdint.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child_pid;

static void forward(int sig) {
  if (child_pid > 0) kill(child_pid, sig);
}

static int report_failure(int report_fd) {
  char line[1200];
  int n = snprintf(line, sizeof line, "error %s\n", shim_error);
  if (report_fd >= 0) write_all(report_fd, line, (size_t)n);
  else write_all(2, line + 6, (size_t)n - 6);
  return 127;
}

/* Namespaces in the order we enter them: mount last, because it changes what /proc we see. */
static const struct { const char *name; int type; } nss[] = {
  { "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
  { "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID }, { "mnt", CLONE_NEWNS },
};
#define NNS (sizeof nss / sizeof *nss)

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* Joining the container's cgroups without the kernel's global threadgroup lock, whose first
 * writer waits for an RCU grace period (10-20 ms): on v1 this (single-threaded) process writes
 * "0" to `tasks`, which moves only the calling thread, i.e. all of it; on cgroup2 the command
 * is created inside the cgroup by clone3(CLONE_INTO_CGROUP), and joins the cgroup namespace
 * itself afterwards (a namespace-delegating host refuses a clone into a cgroup from outside
 * the caller's cgroup namespace). Without clone3's support, the child writes cgroup.procs. */
struct v2_join { int dir_fd, procs_fd; };

static int join_cgroups(const struct shim_config *c, struct v2_join *v2) {
  v2->dir_fd = v2->procs_fd = -1;
  for (int i = 0; i < c->nprocs; i++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", c->procs[i]);
    char *slash = strrchr(dir, '/');
    if (slash && !strcmp(slash, "/cgroup.procs")) *slash = 0;
    struct statfs fs;
    if (statfs(dir, &fs) < 0) return fail(1, "join cgroup %s", dir);
    if (fs.f_type == CGROUP_SUPER_MAGIC) {
      char tasks[4200];
      snprintf(tasks, sizeof tasks, "%s/tasks", dir);
      if (write_file(tasks, "0") < 0) return -1;
    } else if (fs.f_type == CGROUP2_SUPER_MAGIC && v2->dir_fd < 0) {
      v2->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      v2->procs_fd = open(c->procs[i], O_WRONLY | O_CLOEXEC);
      if (v2->dir_fd < 0 || v2->procs_fd < 0) return fail(1, "join cgroup %s", dir);
    } else if (write_file(c->procs[i], "0") < 0) {
      return -1;
    }
  }
  return 0;
}

/* fork(), into the cgroup2 directory when there is one; *joined says whether that worked. */
static pid_t fork_command(const struct v2_join *v2, int *joined) {
  *joined = v2->dir_fd < 0;
  if (v2->dir_fd >= 0) {
    struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup; } a;
    memset(&a, 0, sizeof a);
    a.flags = CLONE_INTO_CGROUP;
    a.exit_signal = SIGCHLD;
    a.cgroup = (uint64_t)v2->dir_fd;
    pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof a);
    if (pid >= 0) {
      *joined = 1;
      return pid;
    }
  }
  return fork();
}

int exec_in_container(const struct shim_config *c, int report_fd) {
  int fds[NNS];
  char path[256];
  if (report_fd >= 0 && fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0) report_fd = -1;
  if (c->target_pid <= 0) { fail(0, "exec: no container pid given"); return report_failure(report_fd); }
  for (size_t i = 0; i < NNS; i++) {
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)c->target_pid, nss[i].name);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) { fail(1, "the container is not running (%s)", path); return report_failure(report_fd); }
  }
  struct v2_join v2;
  if (join_cgroups(c, &v2) < 0) return report_failure(report_fd);
  /* the cgroup namespace (first in the list) is joined by the command itself, see above */
  for (size_t i = 1; i < NNS; i++) {
    if (setns(fds[i], nss[i].type) < 0) { fail(1, "join the container's %s namespace", nss[i].name); return report_failure(report_fd); }
    close(fds[i]);
  }
  int errp[2];
  if (pipe2(errp, O_CLOEXEC) < 0) { fail(1, "pipe"); return report_failure(report_fd); }
  /* the pid namespace applies to children only: the command runs in a forked child */
  int joined;
  child_pid = fork_command(&v2, &joined);
  if (child_pid < 0) { fail(1, "fork"); return report_failure(report_fd); }
  if (child_pid == 0) {
    close(errp[0]);
    if (report_fd >= 0) close(report_fd);
    if (!joined && write_all(v2.procs_fd, "0", 1) < 0) fail(1, "join the container's cgroup");
    else if (setns(fds[0], CLONE_NEWCGROUP) < 0) fail(1, "join the container's cgroup namespace");
    else finish_and_exec(c, -1);
    write_all(errp[1], shim_error, strlen(shim_error));
    _exit(127);
  }
  close(errp[1]);
  close(fds[0]);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
  for (size_t i = 0; i < sizeof fwd / sizeof *fwd; i++) sigaction(fwd[i], &sa, NULL);
  char msg[1024];
  ssize_t n, got = 0;
  while ((n = read(errp[0], msg + got, sizeof msg - 1 - (size_t)got)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) got += n;
  close(errp[0]);
  int status = 0;
  while (waitpid(child_pid, &status, 0) < 0 && errno == EINTR) {}
  if (got > 0) {
    msg[got] = 0;
    snprintf(shim_error, sizeof shim_error, "%s", msg);
    return report_failure(report_fd);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
