#include "config.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Appends one element to a growing array (the shim is short-lived: nothing is freed). */
static void *push(void *arr, int *count, size_t size) {
  void *p = realloc(arr, (size_t)(*count + 2) * size);
  if (!p) abort();
  memset((char *)p + (size_t)*count * size, 0, 2 * size);
  (*count)++;
  return p;
}

static int parse_long(const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *s == 0 || *end) return -1;
  *out = v;
  return 0;
}

int config_load(const char *path, struct shim_config *c) {
  memset(c, 0, sizeof *c);
  c->net = "none";
  c->cwd = "/";
  c->log_max = 10 * 1024 * 1024;
  c->log_files = 3;
  /* "-": the config comes on standard input (a pipe the spawner filled), read to EOF */
  int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
  if (fd < 0) return fail(1, "open config %s", path);
  size_t cap = 16384, got = 0;
  char *buf = malloc(cap + 1);
  if (!buf) abort();
  for (;;) {
    if (got == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
      if (!buf) abort();
    }
    ssize_t n = read(fd, buf + got, cap - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(1, "read config %s", path);
    if (n == 0) break;
    got += (size_t)n;
  }
  if (fd != 0) close(fd);
  buf[got] = 0;
  /* tokens: every NUL ends one */
  const char *tok[4];
  char *p = buf, *end = buf + got;
  while (p < end) {
    const char *key = p;
    p += strlen(p) + 1;
    int want = strcmp(key, "bind") == 0 || strcmp(key, "cgroupfs") == 0 || strcmp(key, "rlimit") == 0 ? 3
             : strcmp(key, "tmpfs") == 0 || strcmp(key, "sysctl") == 0 ? 2
             : strcmp(key, "readonly") == 0 || strcmp(key, "init") == 0 ? 0 : 1;
    for (int i = 0; i < want; i++) {
      if (p >= end) return fail(0, "config: key %s lacks a value", key);
      tok[i] = p;
      p += strlen(p) + 1;
    }
    long long n = 0;
    const char *v = tok[0];
    if (!strcmp(key, "id")) c->id = v;
    else if (!strcmp(key, "state")) c->state_dir = v;
    else if (!strcmp(key, "rootfs")) c->rootfs = v;
    else if (!strcmp(key, "upper")) c->upper = v;
    else if (!strcmp(key, "work")) c->work = v;
    else if (!strcmp(key, "layer")) { c->layers = push(c->layers, &c->nlayers, sizeof *c->layers); c->layers[c->nlayers - 1] = v; }
    else if (!strcmp(key, "readonly")) c->readonly = 1;
    else if (!strcmp(key, "hostname")) c->hostname = v;
    else if (!strcmp(key, "cwd")) c->cwd = v;
    else if (!strcmp(key, "uid")) { if (parse_long(v, &n)) return fail(0, "config: bad uid %s", v); c->uid = (uid_t)n; }
    else if (!strcmp(key, "gid")) { if (parse_long(v, &n)) return fail(0, "config: bad gid %s", v); c->gid = (gid_t)n; }
    else if (!strcmp(key, "group")) {
      if (parse_long(v, &n)) return fail(0, "config: bad group %s", v);
      c->groups = push(c->groups, &c->ngroups, sizeof *c->groups);
      c->groups[c->ngroups - 1] = (gid_t)n;
    }
    else if (!strcmp(key, "arg")) { c->args = push(c->args, &c->nargs, sizeof *c->args); c->args[c->nargs - 1] = (char *)v; }
    else if (!strcmp(key, "env")) { c->env = push(c->env, &c->nenv, sizeof *c->env); c->env[c->nenv - 1] = (char *)v; }
    else if (!strcmp(key, "net")) c->net = v;
    else if (!strcmp(key, "procs")) { c->procs = push(c->procs, &c->nprocs, sizeof *c->procs); c->procs[c->nprocs - 1] = v; }
    else if (!strcmp(key, "oom")) c->oom_file = v;
    else if (!strcmp(key, "devbpf")) c->devbpf = v;
    else if (!strcmp(key, "bind")) {
      c->binds = push(c->binds, &c->nbinds, sizeof *c->binds);
      struct bind_mount *b = &c->binds[c->nbinds - 1];
      b->src = tok[0]; b->dst = tok[1]; b->ro = strcmp(tok[2], "ro") == 0;
    }
    else if (!strcmp(key, "tmpfs")) {
      c->tmpfs = push(c->tmpfs, &c->ntmpfs, sizeof *c->tmpfs);
      c->tmpfs[c->ntmpfs - 1].dst = tok[0];
      c->tmpfs[c->ntmpfs - 1].opts = tok[1];
    }
    else if (!strcmp(key, "cgroupfs")) {
      c->cgmounts = push(c->cgmounts, &c->ncgmounts, sizeof *c->cgmounts);
      struct cgroup_mount *m = &c->cgmounts[c->ncgmounts - 1];
      m->dir = tok[0]; m->fstype = tok[1]; m->opts = tok[2];
    }
    else if (!strcmp(key, "log")) c->log_path = v;
    else if (!strcmp(key, "logmax")) { if (parse_long(v, &c->log_max)) return fail(0, "config: bad logmax %s", v); }
    else if (!strcmp(key, "logfiles")) { if (parse_long(v, &n) || n < 1) return fail(0, "config: bad logfiles %s", v); c->log_files = (int)n; }
    else if (!strcmp(key, "pid")) { if (parse_long(v, &n) || n < 1) return fail(0, "config: bad pid %s", v); c->target_pid = (pid_t)n; }
    else if (!strcmp(key, "capadd")) { c->cap_add = push(c->cap_add, &c->ncap_add, sizeof *c->cap_add); c->cap_add[c->ncap_add - 1] = v; }
    else if (!strcmp(key, "capdrop")) { c->cap_drop = push(c->cap_drop, &c->ncap_drop, sizeof *c->cap_drop); c->cap_drop[c->ncap_drop - 1] = v; }
    else if (!strcmp(key, "sysctl")) {
      c->sysctls = push(c->sysctls, &c->nsysctls, sizeof *c->sysctls);
      c->sysctls[c->nsysctls - 1].name = tok[0];
      c->sysctls[c->nsysctls - 1].value = tok[1];
    }
    else if (!strcmp(key, "rlimit")) {
      c->rlimits = push(c->rlimits, &c->nrlimits, sizeof *c->rlimits);
      struct rlimit_entry *r = &c->rlimits[c->nrlimits - 1];
      r->name = tok[0];
      if (parse_long(tok[1], &r->soft) || parse_long(tok[2], &r->hard) || r->soft < -1 || r->hard < -1)
        return fail(0, "config: bad rlimit %s %s %s", tok[0], tok[1], tok[2]);
    }
    else if (!strcmp(key, "init")) c->init = 1;
    else return fail(0, "config: unknown key %s", key);
  }
  if (c->nargs == 0) return fail(0, "config: no command (arg) given");
  if (!c->env) c->env = calloc(1, sizeof *c->env);
  return 0;
}
