#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char shim_error[1024];

int fail(int with_errno, const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(shim_error, sizeof shim_error, fmt, ap);
  va_end(ap);
  if (with_errno && n >= 0 && (size_t)n < sizeof shim_error)
    snprintf(shim_error + n, sizeof shim_error - n, ": %s", strerror(saved));
  errno = saved;
  return -1;
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int write_file_atomic(const char *path, const char *text) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return fail(0, "path too long: %s", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail(1, "open %s", tmp);
  if (write_all(fd, text, strlen(text)) < 0) {
    close(fd);
    return fail(1, "write %s", tmp);
  }
  close(fd);
  if (rename(tmp, path) < 0) return fail(1, "rename %s", path);
  return 0;
}

int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail(1, "open %s", path);
  if (write_all(fd, text, strlen(text)) < 0) {
    close(fd);
    return fail(1, "write %s", path);
  }
  close(fd);
  return 0;
}

ssize_t read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got + 1 < cap) {
    ssize_t n = read(fd, buf + got, cap - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = 0;
  return (ssize_t)got;
}

int mkdir_p(const char *path, mode_t mode) {
  char buf[4096];
  size_t len = strlen(path);
  if (len >= sizeof buf) return fail(0, "path too long: %s", path);
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1; ; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, mode) < 0 && errno != EEXIST) return fail(1, "mkdir %s", buf);
      *p = c;
      if (c == 0) break;
    }
  }
  return 0;
}

void format_now(char *buf, size_t cap) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, cap - n, ".%09ldZ", ts.tv_nsec);
}

static int tracing;
static int trace_fd = 2;

void trace_keep_fd(void) {
  if (!tracing) return;
  int fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
  if (fd >= 0) trace_fd = fd;
}

void trace_init(void) {
  tracing = getenv("SHOAL_SHIM_TRACE") != NULL;
}

void trace(const char *phase) {
  if (!tracing) return;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  /* absolute CLOCK_MONOTONIC, the clock of Node's process.hrtime(), so callers can line up */
  long us = t.tv_sec * 1000000L + t.tv_nsec / 1000L;
  char line[160];
  int n = snprintf(line, sizeof line, "trace %d %s %ld\n", (int)getpid(), phase, us);
  if (n > 0) write_all(trace_fd, line, (size_t)n);
}
