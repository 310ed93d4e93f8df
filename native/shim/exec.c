#include "exec.h"
#include "process.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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
  char pidtext[32];
  snprintf(pidtext, sizeof pidtext, "%d", (int)getpid());
  for (int i = 0; i < c->nprocs; i++)
    if (write_file(c->procs[i], pidtext) < 0) return report_failure(report_fd);
  for (size_t i = 0; i < NNS; i++) {
    if (setns(fds[i], nss[i].type) < 0) { fail(1, "join the container's %s namespace", nss[i].name); return report_failure(report_fd); }
    close(fds[i]);
  }
  int errp[2];
  if (pipe2(errp, O_CLOEXEC) < 0) { fail(1, "pipe"); return report_failure(report_fd); }
  /* the pid namespace applies to children only: the command runs in a forked child */
  child_pid = fork();
  if (child_pid < 0) { fail(1, "fork"); return report_failure(report_fd); }
  if (child_pid == 0) {
    close(errp[0]);
    if (report_fd >= 0) close(report_fd);
    finish_and_exec(c);
    write_all(errp[1], shim_error, strlen(shim_error));
    _exit(127);
  }
  close(errp[1]);
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
