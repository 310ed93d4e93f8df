#include "init.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Faults of the init itself, not requests to forward: left unblocked so they act at once. */
static const int own_signals[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS };

int init_main(int argc, char **argv) {
  int first = 1;
  if (first < argc && !strcmp(argv[first], "--")) first++;
  if (first >= argc) {
    fprintf(stderr, "%s: no command given\n", SHOAL_INIT_NAME);
    return 127;
  }
  /* exec'd from a descriptor, the kernel named us after it: take our own name for ps */
  prctl(PR_SET_NAME, SHOAL_INIT_NAME, 0, 0, 0);
  /* Blocked signals are queued even for a namespace's pid 1, which the kernel otherwise
   * spares every signal it has no handler for; sigwaitinfo then takes them one by one. */
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  for (size_t i = 0; i < sizeof own_signals / sizeof *own_signals; i++) sigdelset(&all, own_signals[i]);
  /* (the shim exec'd us with every signal blocked, so none was lost before this line) */
  sigprocmask(SIG_SETMASK, &all, NULL);
  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "%s: fork: %s\n", SHOAL_INIT_NAME, strerror(errno));
    return 127;
  }
  if (child == 0) {
    /* the command starts as it would without an init: nothing blocked */
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[first], argv + first);
    fprintf(stderr, "%s: exec %s: %s\n", SHOAL_INIT_NAME, argv[first], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue; /* EINTR */
    if (sig != SIGCHLD) {
      /* the command may be gone already (ESRCH): its SIGCHLD is on its way */
      kill(child, sig);
      continue;
    }
    /* SIGCHLD: one pending signal may stand for many exits, so reap until none is left */
    int status;
    pid_t w;
    while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
      if (w != child) continue;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
  }
}
