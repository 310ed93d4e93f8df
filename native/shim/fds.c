#include "fds.h"
#include "util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* close_range (Linux 5.9; its CLOEXEC flag 5.11) does it in one call. SHOAL_SHIM_FDS_FALLBACK
 * forces the path older kernels take, so that it is tested on this one too. */
static int use_close_range(void) {
  static int use = -1;
  if (use < 0) use = getenv("SHOAL_SHIM_FDS_FALLBACK") == NULL;
  return use;
}

static int act(int fd, int cloexec) {
  if (cloexec) {
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0) return errno == EBADF ? 0 : -1;
    return fl & FD_CLOEXEC ? 0 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
  }
  return close(fd) < 0 && errno != EBADF && errno != EINTR ? -1 : 0;
}

/* Without close_range: the open descriptors as /proc/self/fd lists them (collected first, as
 * closing while reading the directory would disturb it), or, with no /proc, every number up
 * to the descriptor limit. */
static int each_fd(int lowest, int keep, int cloexec) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 65536;
    for (long fd = lowest; fd < max; fd++)
      if (fd != keep && act((int)fd, cloexec) < 0) return fail(1, "descriptor %ld", fd);
    return 0;
  }
  int self = dirfd(d), n = 0, cap = 64;
  int *fds = malloc(sizeof *fds * (size_t)cap);
  struct dirent *e;
  while (fds && (e = readdir(d))) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    if (*end || end == e->d_name || fd < lowest || fd == keep || fd == self) continue;
    if (n == cap) fds = realloc(fds, sizeof *fds * (size_t)(cap *= 2));
    if (fds) fds[n++] = (int)fd;
  }
  closedir(d);
  if (!fds) return fail(0, "list descriptors: out of memory");
  for (int i = 0; i < n; i++)
    if (act(fds[i], cloexec) < 0) { free(fds); return fail(1, "descriptor %d", fds[i]); }
  free(fds);
  return 0;
}

static int range(unsigned lo, unsigned hi, int cloexec) {
  if (lo > hi) return 0;
  if (use_close_range() && syscall(SYS_close_range, lo, hi, cloexec ? CLOSE_RANGE_CLOEXEC : 0) == 0) return 0;
  return 1; /* not done: the caller walks the descriptors */
}

int fds_close_from(int lowest, int keep) {
  if (keep < lowest) keep = -1;
  int rc = keep < 0 ? range((unsigned)lowest, ~0U, 0) : range((unsigned)lowest, (unsigned)keep - 1, 0) | range((unsigned)keep + 1, ~0U, 0);
  return rc == 0 ? 0 : each_fd(lowest, keep, 0);
}

int fds_cloexec_from(int lowest) {
  return range((unsigned)lowest, ~0U, 1) == 0 ? 0 : each_fd(lowest, -1, 1);
}
