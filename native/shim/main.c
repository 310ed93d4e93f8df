/* shoal-shim: the small single-threaded helper that makes and supervises one container, so
 * that the multi-threaded Node process never forks. Usage:
 *   shoal-shim run CONFIG [--in-place [STATE_DIR]]
 *                                start a container; prints "ok <pid>" or "error <message>";
 *                                CONFIG "-" is read from stdin;
 *                                --in-place: the caller already made us a session leader
 *                                (posix_spawn with SETSID) and reaps us later, so we supervise
 *                                without forking first; STATE_DIR is not read (the config names
 *                                it): it only marks the command line as this container's
 *   shoal-shim exec CONFIG [FD]  run a process in a running container (errors also to FD)
 * Run as argv[0] "shoal-init", it is a container's init instead (init.h). */
#include "config.h"
#include "exec.h"
#include "fds.h"
#include "init.h"
#include "run.h"
#include "sealed.h"
#include "util.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

int main(int argc, char **argv) {
  const char *base = strrchr(argv[0], '/');
  int is_init = !strcmp(base ? base + 1 : argv[0], SHOAL_INIT_NAME);
  int is_run = argc > 1 && !strcmp(argv[1], "run");
  int report_fd = !is_init && !is_run && argc > 3 ? atoi(argv[3]) : -1;
  /* first of all, before anything runs from the host's file or hands a descriptor on (fds.h,
   * sealed.h): of what we inherit, only stdio and exec's report pipe are ours */
  if (fds_close_from(3, report_fd > 2 ? report_fd : -1) < 0 || sealed_exe_ensure(argv) < 0) {
    fprintf(stderr, "shoal-shim: %s\n", shim_error);
    if (is_run) printf("error %s\n", shim_error);
    else if (report_fd >= 0) dprintf(report_fd, "error %s\n", shim_error);
    return 127;
  }
  /* a container's pid 1 under `init: true` (see init.h; it names itself) */
  if (is_init) return init_main(argc, argv);
  /* exec'd from a descriptor, the kernel named us after its number: ps and top show this */
  prctl(PR_SET_NAME, "shoal-shim", 0, 0, 0);
  if (argc < 3 || (strcmp(argv[1], "run") && strcmp(argv[1], "exec"))) {
    fprintf(stderr, "usage: shoal-shim run CONFIG [--in-place] | exec CONFIG [REPORT_FD]\n");
    return 2;
  }
  trace_init();
  signal(SIGPIPE, SIG_IGN);
  struct shim_config cfg;
  if (config_load(argv[2], &cfg) < 0) {
    if (is_run) printf("error %s\n", shim_error);
    else {
      fprintf(stderr, "shoal-shim: %s\n", shim_error);
      if (report_fd >= 0) dprintf(report_fd, "error %s\n", shim_error);
    }
    return is_run ? 1 : 127;
  }
  if (is_run) {
    if (!cfg.state_dir || !cfg.rootfs || !cfg.upper || !cfg.work || cfg.nlayers == 0) {
      printf("error config: run needs state, rootfs, upper, work and at least one layer\n");
      return 1;
    }
    fflush(stdout);
    return run_container(&cfg, argc > 3 && !strcmp(argv[3], "--in-place"));
  }
  return exec_in_container(&cfg, report_fd);
}
