#include "run.h"
#include "devices.h"
#include "logger.h"
#include "options.h"
#include "process.h"
#include "rootfs.h"
#include "seccomp.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct pipes { int out[2], err[2], errp[2], sec[2]; };

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* How the init gets into its cgroups without the cost of the usual move. Writing a pid to
 * cgroup.procs takes the kernel's global threadgroup lock, whose first writer waits for an RCU
 * grace period (8-20 ms here, the largest single cost of a start). Two ways around it:
 * - cgroup2: clone3(CLONE_INTO_CGROUP) creates the init inside its cgroup (Linux >= 5.7);
 * - v1: the init writes "0" (itself) to each hierarchy's `tasks`; moving only the calling
 *   thread skips the global lock, and the init is single-threaded, so its whole process moves.
 * Anything else (an older kernel's cgroup2) falls back to the init writing "0" to cgroup.procs. */
struct cgroup_join {
  char **files; int nfiles;  /* written with "0" by the init, in order */
  int clone_fd;              /* the cgroup2 directory to clone into, or -1 */
  char *clone_procs;         /* its cgroup.procs, for the fallback when clone3 cannot */
};

static int plan_cgroup_join(const struct shim_config *c, struct cgroup_join *j) {
  j->files = calloc((size_t)c->nprocs + 1, sizeof *j->files);
  j->nfiles = 0;
  j->clone_fd = -1;
  j->clone_procs = NULL;
  if (!j->files) abort();
  for (int i = 0; i < c->nprocs; i++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", c->procs[i]);
    char *slash = strrchr(dir, '/');
    if (slash && !strcmp(slash, "/cgroup.procs")) *slash = 0;
    struct statfs fs;
    if (statfs(dir, &fs) < 0) return fail(1, "join cgroup %s", dir);
    if (fs.f_type == CGROUP2_SUPER_MAGIC && j->clone_fd < 0) {
      j->clone_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (j->clone_fd < 0) return fail(1, "join cgroup %s", dir);
      j->clone_procs = strdup(c->procs[i]);
      continue;
    }
    char *f = malloc(strlen(dir) + 16);
    if (!f) abort();
    sprintf(f, fs.f_type == CGROUP_SUPER_MAGIC ? "%s/tasks" : "%s/cgroup.procs", dir);
    j->files[j->nfiles++] = f;
  }
  return 0;
}

/* fork-like clone into new namespaces (and, given a cgroup2 fd, into that cgroup): this
 * process is single-threaded, so the child may run any code. Without clone3 or its cgroup
 * support, a plain clone; the init then joins that cgroup itself. */
static pid_t clone_init(long flags, struct cgroup_join *j) {
  if (j->clone_fd >= 0) {
    struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup; } a;
    memset(&a, 0, sizeof a);
    a.flags = (uint64_t)(flags & ~0xffL) | CLONE_INTO_CGROUP;
    a.exit_signal = (uint64_t)(flags & 0xff);
    a.cgroup = (uint64_t)j->clone_fd;
    pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof a);
    if (pid >= 0) return pid;
    trace("supervisor: clone3 into the cgroup refused, falling back");
    j->files[j->nfiles++] = j->clone_procs;
  }
  return (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
}

static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
}

/* The container's init, pid 1 of its new namespaces. Never returns. */
static void child_init(const struct shim_config *c, struct pipes *p, int netfd, const struct cgroup_join *j) {
  reset_signals();
  umask(022);
  close(p->errp[0]);
  close(p->out[0]);
  close(p->err[0]);
  close(p->sec[1]);
  int *bind_fds = calloc((size_t)c->nbinds + 1, sizeof(int));
  int nullfd = -1, init_fd = -1;
  trace("init: cloned");
  /* first, so that everything the init allocates is charged to the container */
  for (int i = 0; i < j->nfiles; i++)
    if (write_file(j->files[i], "0") < 0) { fail(1, "join cgroup %s", j->files[i]); goto fail; }
  trace("init: in cgroup");
  if (netfd >= 0 && setns(netfd, CLONE_NEWNET) < 0) { fail(1, "join network namespace %s", c->net); goto fail; }
  if (!strcmp(c->net, "none") && net_loopback_up() < 0) goto fail;
  if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0) { fail(1, "set hostname %s", c->hostname); goto fail; }
  /* /proc/sys files act on the namespaces of whoever opens them: the container's, now */
  if (sysctls_apply(c) < 0) goto fail;
  /* the init program is this binary, found while the host's /proc is still reachable */
  if (c->init && (init_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC)) < 0) { fail(1, "open the shim binary for the init"); goto fail; }
  nullfd = open("/dev/null", O_RDWR);
  if (nullfd < 0) { fail(1, "open /dev/null"); goto fail; }
  if (rootfs_open_binds(c, bind_fds) < 0) goto fail;
  trace("init: namespaces set");
  if (rootfs_setup_early(c, bind_fds) < 0) goto fail;
  /* rooted at the container's cgroup, which the init joined above */
  if (unshare(CLONE_NEWCGROUP) < 0) { fail(1, "unshare the cgroup namespace"); goto fail; }
  if (rootfs_setup_late(c) < 0) goto fail;
  trace("init: rootfs ready");
  trace_keep_fd();
  if (dup2(nullfd, 0) < 0 || dup2(p->out[1], 1) < 0 || dup2(p->err[1], 2) < 0) { fail(1, "dup2"); goto fail; }
  finish_and_exec_via(c, p->sec[0], init_fd);
fail:
  write_all(p->errp[1], shim_error, strlen(shim_error));
  _exit(127);
}

static void report(int fd, const char *fmt, const char *arg) {
  char line[1200];
  int n = snprintf(line, sizeof line, fmt, arg);
  if (n > 0) write_all(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  close(fd);
}

static void state_path(char *out, size_t cap, const struct shim_config *c, const char *name) {
  snprintf(out, cap, "%s/%s", c->state_dir, name);
}

static int write_pid_file(const struct shim_config *c, const char *name, pid_t pid) {
  char path[4096], text[32];
  state_path(path, sizeof path, c, name);
  snprintf(text, sizeof text, "%d\n", (int)pid);
  return write_file_atomic(path, text);
}

/* Field 22 of /proc/PID/stat (start time in clock ticks) into out, or "-" if unreadable. */
static void start_ticks(pid_t pid, char *out, size_t cap) {
  char path[64], buf[1024];
  snprintf(out, cap, "-");
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (read_file(path, buf, sizeof buf) < 0) return;
  char *p = strrchr(buf, ')');
  if (!p) return;
  p += 2; /* fields from the state (field 3) on */
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  if (!p) return;
  size_t n = strcspn(p, " \n");
  if (n == 0 || n >= cap) return;
  memcpy(out, p, n);
  out[n] = 0;
}

/* init.pid: "PID START_TICKS STARTED_AT". The runtime reads the init's pid, the start time that
 * tells it from a later process with a recycled pid, and when it started from this one file,
 * so it need not rewrite container.json on every start. */
static int write_init_file(const struct shim_config *c, pid_t pid) {
  char path[4096], text[160], ticks[32], now[64];
  start_ticks(pid, ticks, sizeof ticks);
  format_now(now, sizeof now);
  snprintf(text, sizeof text, "%d %s %s\n", (int)pid, ticks, now);
  state_path(path, sizeof path, c, "init.pid");
  return write_file_atomic(path, text);
}

static int oom_killed(const struct shim_config *c) {
  char buf[4096];
  if (!c->oom_file || read_file(c->oom_file, buf, sizeof buf) < 0) return 0;
  char *p = strstr(buf, "oom_kill ");
  return p && atol(p + 9) > 0;
}

static void record_exit(const struct shim_config *c, int status) {
  char path[4096], now[64], text[512];
  format_now(now, sizeof now);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + sig;
  snprintf(text, sizeof text, "{\"code\":%d,\"signal\":%d,\"oomKilled\":%s,\"finishedAt\":\"%s\"}\n",
           code, sig, oom_killed(c) ? "true" : "false", now);
  state_path(path, sizeof path, c, "exit.json");
  write_file_atomic(path, text);
}

/* Copies output to the log until the container's init has exited and its pipes are drained. */
static void supervise_loop(const struct shim_config *c, pid_t init, int sfd, struct logger *lg, int out, int err) {
  struct log_stream streams[2] = { { .name = "stdout", .fd = out }, { .name = "stderr", .fd = err } };
  fcntl(out, F_SETFL, O_NONBLOCK);
  fcntl(err, F_SETFL, O_NONBLOCK);
  int status = 0, exited = 0, drain_polls = 0;
  while (!exited || streams[0].fd >= 0 || streams[1].fd >= 0) {
    struct pollfd pfd[3] = { { sfd, POLLIN, 0 }, { streams[0].fd, POLLIN, 0 }, { streams[1].fd, POLLIN, 0 } };
    /* once init is gone the kernel kills the namespace; give stray writers a bounded time */
    int rc = poll(pfd, 3, exited ? 100 : -1);
    if (rc < 0 && errno != EINTR) break;
    if (exited && rc == 0 && ++drain_polls > 20) break;
    if (pfd[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {}
      pid_t w;
      int st;
      while ((w = waitpid(-1, &st, WNOHANG)) > 0)
        if (w == init) { status = st; exited = 1; }
    }
    for (int i = 0; i < 2; i++)
      if (streams[i].fd >= 0 && (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) logger_pump(lg, &streams[i]);
  }
  for (int i = 0; i < 2; i++)
    if (streams[i].fd >= 0) logger_pump(lg, &streams[i]);
  trace("supervisor: init exited");
  record_exit(c, status);
  trace("supervisor: exit recorded");
}

static int supervise(const struct shim_config *c, int rep) {
  struct pipes p;
  char path[4096];
  if (pipe2(p.out, O_CLOEXEC) || pipe2(p.err, O_CLOEXEC) || pipe2(p.errp, O_CLOEXEC) || pipe2(p.sec, O_CLOEXEC)) {
    fail(1, "pipe");
    report(rep, "error %s\n", shim_error);
    return 1;
  }
  trace("supervisor: start");
  if (write_pid_file(c, "shim.pid", getpid()) < 0) { report(rep, "error %s\n", shim_error); return 1; }
  int netfd = -1;
  if (strcmp(c->net, "none") && strcmp(c->net, "host")) {
    netfd = open(c->net, O_RDONLY | O_CLOEXEC);
    if (netfd < 0) {
      fail(1, "network namespace %s", c->net);
      report(rep, "error %s\n", shim_error);
      return 1;
    }
  }
  struct logger lg;
  state_path(path, sizeof path, c, "container.log");
  if (logger_open(&lg, c->log_path ? c->log_path : path, c->log_max, c->log_files) < 0) {
    report(rep, "error %s\n", shim_error);
    return 1;
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  struct cgroup_join join;
  if (plan_cgroup_join(c, &join) < 0) { report(rep, "error %s\n", shim_error); return 1; }
  /* the device filter guards the cgroup itself: in place before the init can be in it */
  if (c->devbpf && devices_bpf_attach(c->devbpf) < 0) { report(rep, "error %s\n", shim_error); return 1; }
  long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
  if (!strcmp(c->net, "none")) flags |= CLONE_NEWNET;
  trace("supervisor: clone");
  pid_t init = clone_init(flags, &join);
  if (init < 0) { fail(1, "clone the container's namespaces"); report(rep, "error %s\n", shim_error); return 1; }
  if (init == 0) child_init(c, &p, netfd, &join);
  if (join.clone_fd >= 0) close(join.clone_fd);
  /* compiled here while the init builds its rootfs (2 cores: in parallel); the program fits
   * in the pipe's buffer. On failure the init reads nothing and refuses to exec. */
  close(p.sec[0]);
  if (shim_seccomp_export(p.sec[1]) < 0) trace("supervisor: seccomp profile not compiled");
  close(p.sec[1]);
  trace("supervisor: seccomp compiled");
  close(p.errp[1]);
  close(p.out[1]);
  close(p.err[1]);
  if (netfd >= 0) close(netfd);
  char pidtext[32];
  snprintf(pidtext, sizeof pidtext, "%d", (int)init);
  char msg[1024];
  ssize_t n, got = 0;
  while ((n = read(p.errp[0], msg + got, sizeof msg - 1 - (size_t)got)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) got += n;
  close(p.errp[0]);
  if (got > 0) {
    msg[got] = 0;
    waitpid(init, NULL, 0);
    report(rep, "error %s\n", msg);
    return 1;
  }
  if (write_init_file(c, init) < 0) { kill(init, SIGKILL); waitpid(init, NULL, 0); report(rep, "error %s\n", shim_error); return 1; }
  trace("supervisor: exec done");
  report(rep, "ok %s\n", pidtext);
  supervise_loop(c, init, sfd, &lg, p.out[0], p.err[0]);
  return 0;
}

int run_container(const struct shim_config *c, int in_place) {
  fflush(stdout);
  if (!in_place) {
    pid_t sup = fork();
    if (sup < 0) { printf("error fork: %s\n", strerror(errno)); return 1; }
    /* the caller reaps us at once; the supervisor reports on the stdout it inherited */
    if (sup > 0) return 0;
  }
  int rep = fcntl(1, F_DUPFD_CLOEXEC, 3);
  /* the supervisor: own session, no terminal, nothing of the caller's kept open (in place,
   * the spawner already made us a session leader and setsid() fails harmlessly) */
  setsid();
  /* hold no directory of the caller's busy (every path in the config is absolute) */
  if (chdir("/") < 0) _exit(1);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  int nullfd = open("/dev/null", O_RDWR);
  if (nullfd >= 0) {
    dup2(nullfd, 0);
    dup2(nullfd, 1);
    /* The supervisor reports through the caller's pipe and exit.json; its stderr carries only
     * trace lines, so shim.log exists only when tracing (a file per container start less). */
    int logfd = -1;
    if (getenv("SHOAL_SHIM_TRACE")) {
      char path[4096];
      snprintf(path, sizeof path, "%s/shim.log", c->state_dir);
      logfd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0640);
    }
    dup2(logfd >= 0 ? logfd : nullfd, 2);
    if (logfd > 2) close(logfd);
    if (nullfd > 2) close(nullfd);
  }
  _exit(supervise(c, rep));
}
