// The control socket: the agent sends the whole desired state as one transaction and gets one
// answer. Lines:
//   begin | net KEY IFNAME | peer KEY A.B.C.D | commit   -> "ok" or "err MESSAGE"
//   stats                                                -> "stats rx=.. tx=.. ..."
// A commit that cannot attach a TAP changes nothing (the old state keeps running).
#include "gre.h"
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 8
#define LINE_MAX_LEN 256

struct pending_net {
  uint32_t key;
  char ifname[16];
};

struct client {
  int fd;
  char buf[4096];
  size_t len;
  int in_tx;
  struct pending_net *nets;
  size_t nnets, capnets;
  struct peer_set peers;
  char error[200];
};

static struct client clients[MAX_CLIENTS];

int control_listen(const char *path, char *err, size_t errlen) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen, "socket path too long: %s", path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  unlink(path); /* a previous daemon's, which is gone (the agent checks before starting one) */
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
    snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
  return fd;
}

void control_accept(struct gre_state *st, int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    int i = 0;
    while (i < MAX_CLIENTS && clients[i].fd >= 0) i++;
    if (i == MAX_CLIENTS) {
      close(fd);
      continue;
    }
    clients[i] = (struct client){.fd = fd};
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)2 << 32 | (uint32_t)fd};
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      close(fd);
      clients[i].fd = -1;
    }
  }
}

static void reply(struct client *c, const char *s) {
  size_t n = strlen(s), off = 0;
  while (off < n) {
    ssize_t w = write(c->fd, s + off, n - off);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    off += (size_t)w;
  }
}

static void reset_tx(struct client *c) {
  free(c->nets);
  c->nets = NULL;
  c->nnets = c->capnets = 0;
  peer_set_free(&c->peers);
  c->in_tx = 0;
  c->error[0] = 0;
}

static int tap_epoll(struct gre_state *st, struct gre_net *n, int op) {
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)3 << 32 | n->key};
  return epoll_ctl(st->epfd, op, n->fd, &ev);
}

/* A TAP deleted and made again under the same name needs a new descriptor: the old one is
 * detached for good (TUNGETIFF then fails with EBADFD). */
static int tap_alive(int fd) {
  struct ifreq ifr;
  return ioctl(fd, TUNGETIFF, &ifr) == 0;
}

/* Makes the pending state the running one, or nothing at all. */
static void commit(struct gre_state *st, struct client *c) {
  static struct gre_net next[GRE_MAX_NETS];
  size_t made[GRE_MAX_NETS], nmade = 0;
  char err[200] = "";
  for (size_t i = 0; i < c->nnets; i++) {
    struct gre_net *old = gre_find_net(st, c->nets[i].key);
    next[i] = (struct gre_net){.key = c->nets[i].key, .fd = -1};
    memcpy(next[i].ifname, c->nets[i].ifname, sizeof next[i].ifname);
    if (old && strcmp(old->ifname, next[i].ifname) == 0 && tap_alive(old->fd)) {
      next[i].fd = old->fd;
      continue;
    }
    if (tap_attach(next[i].ifname, &next[i].fd, err, sizeof err) < 0 || tap_epoll(st, &next[i], EPOLL_CTL_ADD) < 0) {
      if (next[i].fd >= 0) close(next[i].fd);
      if (!err[0]) snprintf(err, sizeof err, "epoll: %s", strerror(errno));
      for (size_t j = 0; j < nmade; j++) close(next[made[j]].fd); /* closing drops it from epoll */
      char line[260];
      snprintf(line, sizeof line, "err %s\n", err);
      reply(c, line);
      reset_tx(c);
      return;
    }
    made[nmade++] = i;
  }
  for (size_t i = 0; i < st->nnets; i++) {
    int kept = 0;
    for (size_t j = 0; j < c->nnets; j++) kept |= next[j].fd == st->nets[i].fd;
    if (!kept) close(st->nets[i].fd);
  }
  memcpy(st->nets, next, c->nnets * sizeof next[0]);
  st->nnets = c->nnets;
  peer_set_free(&st->peers);
  st->peers = c->peers;
  c->peers = (struct peer_set){0};
  gre_log("state: %zu networks, %zu peers", st->nnets, st->peers.len);
  reset_tx(c);
  reply(c, "ok\n");
}

static void line(struct gre_state *st, struct client *c, char *s) {
  char a[LINE_MAX_LEN], b[LINE_MAX_LEN];
  unsigned long key;
  if (strcmp(s, "begin") == 0) {
    reset_tx(c);
    c->in_tx = 1;
  } else if (strcmp(s, "stats") == 0) {
    char out[256];
    snprintf(out, sizeof out, "stats rx=%llu tx=%llu rxdrop=%llu txdrop=%llu segs=%llu gro=%llu nets=%zu peers=%zu\n",
             (unsigned long long)st->rx_pkts, (unsigned long long)st->tx_pkts, (unsigned long long)st->rx_drop,
             (unsigned long long)st->tx_drop, (unsigned long long)st->tx_segs, (unsigned long long)st->rx_gro, st->nnets, st->peers.len);
    reply(c, out);
  } else if (!c->in_tx) {
    reply(c, "err no transaction (send begin first)\n");
  } else if (sscanf(s, "net %lu %15s", &key, a) == 2 && key <= 0xffffffffUL) {
    if (c->nnets == GRE_MAX_NETS) snprintf(c->error, sizeof c->error, "more than %d networks", GRE_MAX_NETS);
    for (size_t i = 0; i < c->nnets; i++)
      if (c->nets[i].key == key) snprintf(c->error, sizeof c->error, "key %lu given twice", key);
    if (c->error[0]) return;
    if (c->nnets == c->capnets) {
      c->capnets = c->capnets ? c->capnets * 2 : 16;
      c->nets = realloc(c->nets, c->capnets * sizeof *c->nets);
      if (!c->nets) abort();
    }
    c->nets[c->nnets] = (struct pending_net){.key = (uint32_t)key};
    snprintf(c->nets[c->nnets].ifname, 16, "%.15s", a);
    c->nnets++;
  } else if (sscanf(s, "peer %lu %63s", &key, b) == 2 && key <= 0xffffffffUL) {
    struct in_addr in;
    if (inet_pton(AF_INET, b, &in) != 1) snprintf(c->error, sizeof c->error, "bad peer address %.63s", b);
    else if (peer_set_add(&c->peers, (uint32_t)key, in.s_addr) < 0) abort();
  } else if (strcmp(s, "commit") == 0) {
    if (c->error[0]) {
      char out[260];
      snprintf(out, sizeof out, "err %s\n", c->error);
      reply(c, out);
      reset_tx(c);
    } else {
      commit(st, c);
    }
  } else {
    snprintf(c->error, sizeof c->error, "unknown line: %.60s", s);
  }
}

int control_read(struct gre_state *st, int cfd) {
  struct client *c = NULL;
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].fd == cfd) c = &clients[i];
  if (!c) return -1;
  for (;;) {
    ssize_t n = read(cfd, c->buf + c->len, sizeof c->buf - c->len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      reset_tx(c);
      c->fd = -1;
      return -1;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    c->len += (size_t)n;
    char *start = c->buf, *nl;
    while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf)))) {
      *nl = 0;
      line(st, c, start);
      start = nl + 1;
    }
    c->len -= (size_t)(start - c->buf);
    memmove(c->buf, start, c->len);
    if (c->len == sizeof c->buf) c->len = 0; /* a line longer than any valid one: drop it */
  }
}
