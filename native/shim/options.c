#include "options.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const struct { const char *name; int resource; } rlimit_names[] = {
  { "as", RLIMIT_AS }, { "core", RLIMIT_CORE }, { "cpu", RLIMIT_CPU }, { "data", RLIMIT_DATA },
  { "fsize", RLIMIT_FSIZE }, { "locks", RLIMIT_LOCKS }, { "memlock", RLIMIT_MEMLOCK },
  { "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE }, { "nofile", RLIMIT_NOFILE },
  { "nproc", RLIMIT_NPROC }, { "rss", RLIMIT_RSS }, { "rtprio", RLIMIT_RTPRIO },
  { "rttime", RLIMIT_RTTIME }, { "sigpending", RLIMIT_SIGPENDING }, { "stack", RLIMIT_STACK },
};

int rlimit_lookup(const char *name) {
  for (size_t i = 0; i < sizeof rlimit_names / sizeof *rlimit_names; i++)
    if (!strcmp(rlimit_names[i].name, name)) return rlimit_names[i].resource;
  return -1;
}

/* Only what belongs to the container's own namespaces (Docker's list); the runtime checks the
 * same before creating anything, this guards the shim's own input. */
static int namespaced(const char *name, const char *net) {
  if (!strncmp(name, "net.", 4)) return strcmp(net, "host") != 0;
  return !strncmp(name, "kernel.shm", 10) || !strncmp(name, "kernel.msg", 10) || !strcmp(name, "kernel.sem") ||
         !strncmp(name, "fs.mqueue.", 10);
}

int sysctls_apply(const struct shim_config *c) {
  for (int i = 0; i < c->nsysctls; i++) {
    const char *name = c->sysctls[i].name, *value = c->sysctls[i].value;
    if (!namespaced(name, c->net))
      return fail(0, "sysctl %s cannot be set in this container (only net.* with its own network namespace, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)", name);
    if (strstr(name, "..") || strchr(name, '/'))
      return fail(0, "sysctl %s: invalid name", name);
    char path[512];
    if ((size_t)snprintf(path, sizeof path, "/proc/sys/%s", name) >= sizeof path) return fail(0, "sysctl %s: name too long", name);
    for (char *p = path + 10; *p; p++)
      if (*p == '.') *p = '/';
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT && !strncmp(name, "net.", 4))
        return fail(0, "sysctl %s does not exist in the container's network namespace (this kernel lacks it, or keeps it host-wide)", name);
      if (errno == ENOENT) return fail(0, "sysctl %s does not exist in this host's kernel", name);
      return fail(1, "sysctl %s", name);
    }
    ssize_t n = write(fd, value, strlen(value));
    int err = errno;
    close(fd);
    if (n < 0) {
      errno = err;
      return fail(1, "set sysctl %s=%s", name, value);
    }
  }
  return 0;
}

int rlimits_apply(const struct shim_config *c) {
  for (int i = 0; i < c->nrlimits; i++) {
    const struct rlimit_entry *e = &c->rlimits[i];
    int res = rlimit_lookup(e->name);
    if (res < 0) return fail(0, "ulimit %s: unknown name", e->name);
    struct rlimit rl = {
      .rlim_cur = e->soft < 0 ? RLIM_INFINITY : (rlim_t)e->soft,
      .rlim_max = e->hard < 0 ? RLIM_INFINITY : (rlim_t)e->hard,
    };
    if (rl.rlim_cur > rl.rlim_max) return fail(0, "ulimit %s: soft limit %lld is above the hard limit %lld", e->name, e->soft, e->hard);
    if (setrlimit(res, &rl) < 0) {
      int err = errno;
      struct rlimit cur;
      getrlimit(res, &cur);
      errno = err;
      if (err == EPERM && rl.rlim_max > cur.rlim_max)
        return fail(0, "ulimit %s: hard limit %lld cannot be granted: it is above shoal's own %llu (raising that needs "
                    "CAP_SYS_RESOURCE, and nofile never passes fs.nr_open)", e->name, e->hard, (unsigned long long)cur.rlim_max);
      return fail(1, "ulimit %s=%lld:%lld", e->name, e->soft, e->hard);
    }
  }
  return 0;
}
