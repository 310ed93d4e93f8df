// shoal-gre --socket PATH [--local A.B.C.D]
// Started (and restarted when it dies) by the agent's overlay-net, in the host's network
// namespace. Prints "ready" on stdout once its control socket listens. Holds no state of its
// own: the agent pushes networks and peers over the socket after every start.
#include "gre.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct gre_state st;

void gre_log(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "{\"time\":%lld,\"name\":\"shoal-gre\",\"pid\":%d,\"msg\":\"%s\"}\n", (long long)time(NULL) * 1000, getpid(), buf);
}

static int die(const char *what, const char *err) {
  gre_log("%s: %s", what, err);
  return 1;
}

static int raw_socket(const char *local, char *err, size_t errlen) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_GRE);
  if (fd < 0) {
    snprintf(err, errlen, "raw GRE socket: %s", strerror(errno));
    return -1;
  }
  /* Large buffers: a burst from a peer's TSO frame is ~45 packets per 64 KiB. */
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  /* Outer packets never fragment: the overlay's MTU leaves room for the headers. */
  int pmtu = IP_PMTUDISC_DO;
  setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  if (local) {
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, local, &sa.sin_addr) != 1 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
      snprintf(err, errlen, "bind raw socket to %s: %s", local, strerror(errno));
      close(fd);
      return -1;
    }
  }
  return fd;
}

int main(int argc, char **argv) {
  const char *sock = NULL, *local = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--socket") == 0) sock = argv[i + 1];
    else if (strcmp(argv[i], "--local") == 0) local = argv[i + 1];
  }
  if (!sock) {
    fprintf(stderr, "usage: shoal-gre --socket PATH [--local ADDRESS]\n");
    return 2;
  }
  prctl(PR_SET_NAME, "shoal-gre");
  /* Every task's traffic on this host waits on this one thread: run it ahead of ordinary
   * processes, as the kernel's own data path (softirq) would be. */
  if (setpriority(PRIO_PROCESS, 0, -10) < 0) gre_log("setpriority: %s (runs at normal priority)", strerror(errno));
  /* A short scheduler slice (EEVDF, Linux 6.12+): a wake-up with packets waiting preempts the
   * running task instead of waiting for its slice to end (every hop of a ping is a wake-up).
   * Older kernels refuse or ignore it; nothing else depends on it. */
  struct {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
  } attr = {.size = 48, .policy = 0 /* SCHED_OTHER */, .nice = -10, .runtime = 100 * 1000};
  if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0) gre_log("sched_setattr slice: %s", strerror(errno));
  /* The agent starts it in a session of its own: where the scheduler groups by session
   * (autogroup), the group's weight is what counts against other sessions' processes. */
  int ag = getsid(0) == getpid() ? open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC) : -1; /* never the caller's session */
  if (ag >= 0) {
    if (write(ag, "-10", 3) < 0) gre_log("autogroup nice: %s", strerror(errno));
    close(ag);
  }
  signal(SIGPIPE, SIG_IGN);
  char err[256];
  st.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (st.epfd < 0) return die("epoll", strerror(errno));
  st.raw = raw_socket(local, err, sizeof err);
  if (st.raw < 0) return die("start", err);
  if (datapath_init(&st, err, sizeof err) < 0) return die("start", err);
  int lfd = control_listen(sock, err, sizeof err);
  if (lfd < 0) return die("start", err);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)0 << 32};
  epoll_ctl(st.epfd, EPOLL_CTL_ADD, st.raw, &ev);
  ev.data.u64 = (uint64_t)1 << 32;
  epoll_ctl(st.epfd, EPOLL_CTL_ADD, lfd, &ev);
  gre_log("ready on %s", sock);
  printf("ready\n");
  fflush(stdout);

  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(st.epfd, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return die("epoll_wait", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
      uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32), v = (uint32_t)evs[i].data.u64;
      if (kind == 0) datapath_rx(&st);
      else if (kind == 1) control_accept(&st, lfd);
      else if (kind == 2) {
        if (control_read(&st, (int)v) < 0) close((int)v);
      } else if (kind == 3) {
        struct gre_net *net = gre_find_net(&st, v);
        if (!net) continue;
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
          /* The TAP was deleted under us (its network is going): stop polling it rather than
           * spin; the agent's next state drops the network. */
          epoll_ctl(st.epfd, EPOLL_CTL_DEL, net->fd, NULL);
          gre_log("TAP %s is gone (key %u)", net->ifname, net->key);
          continue;
        }
        datapath_tx(&st, net);
      }
    }
  }
}
