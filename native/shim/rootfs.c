#include "rootfs.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int do_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) < 0) return fail(1, "mount %s on %s", type ? type : src ? src : "(remount)", dst);
  return 0;
}

/* Many layers under long paths overflow mount(2)'s one-page option string: then the new mount
 * API takes the layers one by one ("lowerdir+", Linux 6.8 and later). */
static int mount_overlay_fsconfig(const struct shim_config *c) {
  int fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) return fail(1, "fsopen overlay");
  int rc = 0;
  /* "lowerdir+" appends below the layers given so far: top-most first, as in lowerdir= */
  for (int i = c->nlayers - 1; i >= 0 && rc == 0; i--) rc = fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", c->layers[i], 0);
  if (rc == 0) rc = fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", c->upper, 0);
  if (rc == 0) rc = fsconfig(fs, FSCONFIG_SET_STRING, "workdir", c->work, 0);
  if (rc == 0) rc = fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
  if (rc < 0) {
    fail(1, "configure the overlay rootfs (%d layers; lowerdir+ needs Linux 6.8)", c->nlayers);
    close(fs);
    return -1;
  }
  int mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
  close(fs);
  if (mnt < 0) return fail(1, "fsmount the overlay rootfs");
  rc = move_mount(mnt, "", AT_FDCWD, c->rootfs, MOVE_MOUNT_F_EMPTY_PATH);
  close(mnt);
  if (rc < 0) return fail(1, "mount the overlay rootfs at %s", c->rootfs);
  return 0;
}

static int mount_overlay(const struct shim_config *c) {
  /* overlayfs lists lowerdir top-most first; our layers come lowest first */
  size_t cap = 256;
  for (int i = 0; i < c->nlayers; i++) cap += strlen(c->layers[i]) + 1;
  cap += strlen(c->upper) + strlen(c->work);
  long page = sysconf(_SC_PAGESIZE);
  if ((long)cap >= page) return mount_overlay_fsconfig(c);
  char *opts = malloc(cap);
  if (!opts) abort();
  size_t n = (size_t)snprintf(opts, cap, "lowerdir=");
  for (int i = c->nlayers - 1; i >= 0; i--)
    n += (size_t)snprintf(opts + n, cap - n, "%s%s", c->layers[i], i ? ":" : "");
  snprintf(opts + n, cap - n, ",upperdir=%s,workdir=%s", c->upper, c->work);
  if (mount("overlay", c->rootfs, "overlay", 0, opts) < 0) {
    int e = errno;
    free(opts);
    errno = e;
    return fail(1, "mount the overlay rootfs at %s (layers %d)", c->rootfs, c->nlayers);
  }
  free(opts);
  return 0;
}

static int pivot(const char *root) {
  if (chdir(root) < 0) return fail(1, "chdir %s", root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) return fail(1, "pivot_root into %s", root);
  /* the old root now sits on top of the new one: detach it, then "/" is the container's */
  if (umount2(".", MNT_DETACH) < 0) return fail(1, "detach the old root");
  if (chdir("/") < 0) return fail(1, "chdir /");
  return 0;
}

struct devnode { const char *name; unsigned maj, min; };
static const struct devnode devnodes[] = {
  { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
  { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static int setup_dev(void) {
  if (mkdir_p("/dev", 0755) < 0) return -1;
  if (do_mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0) return -1;
  char path[64];
  mode_t old = umask(0);
  for (size_t i = 0; i < sizeof devnodes / sizeof *devnodes; i++) {
    snprintf(path, sizeof path, "/dev/%s", devnodes[i].name);
    if (mknod(path, S_IFCHR | 0666, makedev(devnodes[i].maj, devnodes[i].min)) < 0) {
      umask(old);
      return fail(1, "mknod %s", path);
    }
  }
  umask(old);
  static const char *links[][2] = {
    { "pts/ptmx", "/dev/ptmx" }, { "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
    { "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" }, { "/proc/kcore", "/dev/core" },
  };
  for (size_t i = 0; i < sizeof links / sizeof *links; i++)
    if (symlink(links[i][0], links[i][1]) < 0) return fail(1, "symlink %s", links[i][1]);
  if (mkdir("/dev/pts", 0755) < 0 || mkdir("/dev/shm", 01777) < 0 || mkdir("/dev/mqueue", 0755) < 0)
    return fail(1, "mkdir under /dev");
  if (do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0) return -1;
  if (do_mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0) return -1;
  if (do_mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) return -1;
  return 0;
}

/* Docker's masked and read-only paths: kernel data a container should neither read nor write. */
static const char *masked[] = {
  "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
  "/sys/firmware", "/sys/devices/virtual/powercap",
};
static const char *readonly_paths[] = {
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static int mask_paths(void) {
  struct stat st;
  for (size_t i = 0; i < sizeof masked / sizeof *masked; i++) {
    const char *p = masked[i];
    if (lstat(p, &st) < 0) continue; /* absent on this kernel: nothing to hide */
    if (S_ISDIR(st.st_mode)) {
      if (do_mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0) return -1;
    } else if (do_mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
      return -1;
    }
  }
  for (size_t i = 0; i < sizeof readonly_paths / sizeof *readonly_paths; i++) {
    const char *p = readonly_paths[i];
    if (lstat(p, &st) < 0) continue;
    if (do_mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) return -1;
    if (do_mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) return -1;
  }
  return 0;
}

int rootfs_open_binds(const struct shim_config *c, int *fds) {
  for (int i = 0; i < c->nbinds; i++) {
    fds[i] = open_tree(AT_FDCWD, c->binds[i].src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fds[i] < 0) return fail(1, "bind mount source %s", c->binds[i].src);
    if (c->binds[i].ro) {
      struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
      if (mount_setattr(fds[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
        return fail(1, "make bind mount %s read-only", c->binds[i].src);
    }
  }
  return 0;
}

/* Creates the mount point inside the container root: a directory, or an empty file when the
 * source is a file (bind mounts need matching types). */
static int make_mountpoint(const char *dst, int is_dir) {
  /* An existing path is used as it is: opening a file of a lower layer for writing would copy
   * it (and its directory) up into the container's upper directory for nothing. */
  struct stat st;
  if (stat(dst, &st) == 0) return 0;
  if (is_dir) return mkdir_p(dst, 0755);
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", dst);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = 0;
    if (mkdir_p(parent, 0755) < 0) return -1;
  }
  int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 && errno != EISDIR) return fail(1, "create mount point %s", dst);
  if (fd >= 0) close(fd);
  return 0;
}

static int mount_binds(const struct shim_config *c, const int *fds) {
  for (int i = 0; i < c->nbinds; i++) {
    struct stat st;
    if (fstat(fds[i], &st) < 0) return fail(1, "stat bind source %s", c->binds[i].src);
    if (make_mountpoint(c->binds[i].dst, S_ISDIR(st.st_mode)) < 0) return -1;
    if (move_mount(fds[i], "", AT_FDCWD, c->binds[i].dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
      return fail(1, "bind %s on %s", c->binds[i].src, c->binds[i].dst);
    close(fds[i]);
  }
  return 0;
}

/* Splits Docker-style tmpfs options ("ro,noexec,size=64m") into mount flags and fs data. */
static int mount_tmpfs(const struct tmpfs_mount *t) {
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC; /* Docker's defaults; "exec" etc. undo them */
  char data[1024] = "", opts[1024];
  snprintf(opts, sizeof opts, "%s", t->opts);
  for (char *save = NULL, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
    if (!strcmp(o, "ro")) flags |= MS_RDONLY;
    else if (!strcmp(o, "rw")) flags &= ~MS_RDONLY;
    else if (!strcmp(o, "noexec")) flags |= MS_NOEXEC;
    else if (!strcmp(o, "exec")) flags &= ~MS_NOEXEC;
    else if (!strcmp(o, "nosuid")) flags |= MS_NOSUID;
    else if (!strcmp(o, "suid")) flags &= ~MS_NOSUID;
    else if (!strcmp(o, "nodev")) flags |= MS_NODEV;
    else if (!strcmp(o, "dev")) flags &= ~MS_NODEV;
    else {
      size_t n = strlen(data);
      snprintf(data + n, sizeof data - n, "%s%s", n ? "," : "", o);
    }
  }
  if (mkdir_p(t->dst, 0755) < 0) return -1;
  return do_mount("tmpfs", t->dst, "tmpfs", flags, data);
}

/* The container's own cgroups, read-only: the cgroup namespace roots each mount at them. */
static int mount_cgroups(const struct shim_config *c) {
  const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (c->ncgmounts == 0) return 0;
  if (c->ncgmounts == 1 && c->cgmounts[0].dir[0] == 0)
    return do_mount("cgroup", "/sys/fs/cgroup", c->cgmounts[0].fstype, ro, c->cgmounts[0].opts);
  if (do_mount("tmpfs", "/sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k") < 0) return -1;
  char path[512];
  for (int i = 0; i < c->ncgmounts; i++) {
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s", c->cgmounts[i].dir);
    if (mkdir(path, 0555) < 0 && errno != EEXIST) return fail(1, "mkdir %s", path);
    if (do_mount("cgroup", path, c->cgmounts[i].fstype, ro, c->cgmounts[i].opts) < 0) return -1;
  }
  return do_mount(NULL, "/sys/fs/cgroup", NULL, MS_REMOUNT | ro, "mode=755,size=64k");
}

int rootfs_setup_early(const struct shim_config *c, const int *bind_fds) {
  /* keep every mount below out of the host's namespace, both ways */
  if (do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return -1;
  if (mount_overlay(c) < 0) return -1;
  trace("init: overlay mounted");
  if (pivot(c->rootfs) < 0) return -1;
  trace("init: pivoted");
  if (mkdir_p("/proc", 0555) < 0) return -1;
  if (do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) return -1;
  if (setup_dev() < 0) return -1;
  trace("init: /proc and /dev ready");
  if (mkdir_p("/sys", 0555) < 0) return -1;
  if (do_mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) return -1;
  if (mount_binds(c, bind_fds) < 0) return -1;
  for (int i = 0; i < c->ntmpfs; i++)
    if (mount_tmpfs(&c->tmpfs[i]) < 0) return -1;
  trace("init: user mounts done");
  return 0;
}

int rootfs_setup_late(const struct shim_config *c) {
  if (mount_cgroups(c) < 0) return -1;
  trace("init: cgroups mounted");
  if (mask_paths() < 0) return -1;
  trace("init: paths masked");
  if (c->readonly && do_mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) return -1;
  return 0;
}

int net_loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail(1, "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl(s, SIOCSIFFLAGS, &ifr) < 0)) {
    close(s);
    return fail(1, "bring lo up");
  }
  close(s);
  return 0;
}
