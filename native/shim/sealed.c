#include "sealed.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

extern char **environ;

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static int sealed(int fd) {
  int s = fcntl(fd, F_GET_SEALS);
  return s >= 0 && (s & SEALS) == SEALS;
}

/* A sealed memfd holding the bytes of fd; -1 with shim_error set. */
static int sealed_copy(int src) {
  /* MFD_EXEC: kernels with vm.memfd_noexec (6.3+) would otherwise make it non-executable */
  int fd = memfd_create(SEALED_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(SEALED_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  /* no silent fallback to the host's file: a start fails and says why */
  if (fd < 0 && (errno == EACCES || errno == EPERM)) return fail(1, "memfd_create for the shim's sealed copy (executable memfds refused: vm.memfd_noexec=2?)");
  if (fd < 0) return fail(1, "memfd_create for the shim's sealed copy");
  static char buf[128 * 1024];
  for (;;) {
    ssize_t n = read(src, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { close(fd); return fail(1, "read the shim binary"); }
    if (n == 0) break;
    if (write_all(fd, buf, (size_t)n) < 0) { close(fd); return fail(1, "copy the shim binary"); }
  }
  /* F_SEAL_EXEC (6.3+) also freezes the mode: no chmod -x of a copy that others exec */
  if (fcntl(fd, F_ADD_SEALS, SEALS | F_SEAL_EXEC) < 0 && fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
    close(fd);
    return fail(1, "seal the shim's copy");
  }
  return fd;
}

int sealed_exe_ensure(char **argv) {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) return fail(1, "open /proc/self/exe");
  if (sealed(self)) {
    close(self);
    return 0;
  }
  int copy = sealed_copy(self);
  close(self);
  if (copy < 0) return -1;
  /* close-on-exec is fine: the kernel holds the file before it closes the descriptor */
  syscall(SYS_execveat, copy, "", argv, environ, AT_EMPTY_PATH);
  int e = errno;
  close(copy);
  errno = e;
  return fail(1, "exec the shim's sealed copy");
}
