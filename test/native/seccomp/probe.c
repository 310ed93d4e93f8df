/* Seccomp probe: tries syscalls the default profile must refuse and ones it must allow, and
 * prints one "name result" line each (result: OK or the errno name). Run as "probe plain"
 * (no filter: shows the call works, or fails for another reason, with full capabilities) and
 * "probe filtered" (no_new_privs + shim_seccomp_apply_default first); "probe exec CMD..." runs a
 * real program under the profile. Every attempt is chosen
 * to leave no trace on the host even when it succeeds. */
#define _GNU_SOURCE
#include "../../../native/shim/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static void report(const char *name, long rc) {
  if (rc < 0) printf("%s %s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
  else printf("%s OK\n", name);
  fflush(stdout);
}

/* Result of a raw clone-like call: the child exits at once, the parent reaps it. */
static long reap(long pid) {
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return pid;
}

static void *thread_main(void *arg) { return arg; }

/* int 0x80 runs the 32-bit ABI from a 64-bit process: the child reports its result by exit code
 * (0 = the call worked, 1 = EPERM, 2 = other error), and dies if the kernel lacks the ABI. */
static void try_ia32_getpid(void) {
#if defined(__x86_64__)
  pid_t child = fork();
  if (child == 0) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory"); /* i386 __NR_getpid */
    _exit(ret == (long)getpid() ? 0 : ret == -EPERM ? 1 : 2);
  }
  int st = 0;
  waitpid(child, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) printf("ia32_getpid OK\n");
  else if (WIFEXITED(st) && WEXITSTATUS(st) == 1) printf("ia32_getpid EPERM\n");
  else printf("ia32_getpid UNAVAILABLE\n");
  fflush(stdout);
#endif
}

int main(int argc, char **argv) {
  /* "probe exec CMD ARGS...": apply the profile as the shim does, then run a real program. */
  if (argc > 2 && strcmp(argv[1], "exec") == 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || shim_seccomp_apply_default() != 0) return 92;
    execvp(argv[2], argv + 2);
    return 93;
  }
  int filtered = argc > 1 && strcmp(argv[1], "filtered") == 0;
  if (filtered) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 90;
    int rc = shim_seccomp_apply_default();
    printf("apply %d\n", rc);
    if (rc != 0) return 91;
  }
  char capline[128] = "";
  FILE *st = fopen("/proc/self/status", "r");
  for (char line[256]; st && fgets(line, sizeof line, st);)
    if (strncmp(line, "CapEff:", 7) == 0) sscanf(line + 7, "%127s", capline);
  if (st) fclose(st);
  printf("capeff %s\n", capline);

  /* Must be refused. */
  int nsfd = open("/proc/self/ns/uts", O_RDONLY);
  report("setns", setns(nsfd, CLONE_NEWUTS));
  close(nsfd);
  report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0));
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr); /* map type 0 is invalid: EINVAL without the filter */
  report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
  /* Invalid architecture flags: EINVAL (or ENOSYS) without the filter, never a real load. */
  report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0x7fff0000UL));
  /* The target does not exist: ENOENT without the filter, so nothing is ever mounted. */
  report("mount", mount("none", "/nonexistent-shoalcg-probe", "tmpfs", 0, NULL));
  report("umount2", umount2("/nonexistent-shoalcg-probe", 0));
  /* Bad magic or clock id: EINVAL without the filter, so nothing reboots and no clock moves. */
  report("reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
  struct timespec ts = { 0, 0 };
  report("clock_settime", syscall(SYS_clock_settime, 12345, &ts));
  report("personality_no_aslr", personality(ADDR_NO_RANDOMIZE));
  struct io_uring_params up;
  memset(&up, 0, sizeof up);
  long ring = syscall(SYS_io_uring_setup, 1, &up);
  report("io_uring_setup", ring);
  if (ring >= 0) close((int)ring);
  long vs = socket(AF_VSOCK, SOCK_STREAM, 0);
  report("socket_vsock", vs);
  if (vs >= 0) close((int)vs);
  report("x32_getpid", syscall(0x40000000L | 39)); /* x32 ABI getpid */
  try_ia32_getpid();
  /* Namespace creation last: in plain mode the new user namespace takes away the capabilities
   * over the host that the calls above need to succeed or fail for their own reasons. */
  report("unshare_newns", unshare(CLONE_NEWNS));
  report("unshare_newuser", unshare(CLONE_NEWUSER));
  report("unshare_newnet", unshare(CLONE_NEWNET));
  report("clone_newpid", reap(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0)));
  struct clone_args ca = { .flags = 0, .exit_signal = SIGCHLD };
  report("clone3", reap(syscall(SYS_clone3, &ca, sizeof ca)));

  /* Must work. */
  report("getpid", getpid());
  int fd = open("/proc/self/status", O_RDONLY);
  char buf[64];
  report("open", fd);
  report("read", read(fd, buf, sizeof buf));
  close(fd);
  int nul = open("/dev/null", O_WRONLY);
  report("write", write(nul, "x", 1));
  close(nul);
  pid_t child = fork();
  if (child == 0) _exit(7);
  int wst = 0;
  if (child > 0) waitpid(child, &wst, 0);
  errno = EIO;
  report("fork", child > 0 && WIFEXITED(wst) && WEXITSTATUS(wst) == 7 ? 0 : -1);
  pthread_t th;
  int prc = pthread_create(&th, NULL, thread_main, NULL); /* glibc tries clone3, then clone */
  if (prc == 0) pthread_join(th, NULL);
  errno = prc;
  report("thread", prc == 0 ? 0 : -1);
  report("unshare_files", unshare(CLONE_FILES));
  report("personality_query", personality(0xffffffff));
  report("personality_linux", personality(PER_LINUX));
  pid_t tracee = fork();
  if (tracee == 0) {
    pause();
    _exit(0);
  }
  long pt = ptrace(PTRACE_SEIZE, tracee, 0, 0);
  report("ptrace", pt);
  kill(tracee, SIGKILL);
  waitpid(tracee, NULL, 0);
  return 0;
}
