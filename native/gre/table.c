// The networks (GRE key -> TAP) and the peer set (key, underlay address) the data path checks
// every frame against, and attaching to the agent's persistent TAP devices.
#include "gre.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static size_t slot_of(uint64_t v, size_t cap) {
  v ^= v >> 33;
  v *= 0xff51afd7ed558ccdULL;
  v ^= v >> 33;
  return (size_t)v & (cap - 1);
}

static uint64_t pack(uint32_t key, uint32_t addr) {
  /* key 0 with address 0.0.0.0 would be the empty slot: neither is ever a valid peer. */
  return (uint64_t)key << 32 | addr;
}

int peer_set_add(struct peer_set *s, uint32_t key, uint32_t addr) {
  uint64_t v = pack(key, addr);
  if (v == 0) return 0;
  if ((s->len + 1) * 2 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->slots[i]) continue;
      size_t j = slot_of(s->slots[i], cap);
      while (slots[j]) j = (j + 1) & (cap - 1);
      slots[j] = s->slots[i];
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
  }
  size_t j = slot_of(v, s->cap);
  while (s->slots[j]) {
    if (s->slots[j] == v) return 0;
    j = (j + 1) & (s->cap - 1);
  }
  s->slots[j] = v;
  s->len++;
  return 0;
}

int peer_set_has(const struct peer_set *s, uint32_t key, uint32_t addr) {
  if (!s->cap) return 0;
  uint64_t v = pack(key, addr);
  size_t j = slot_of(v, s->cap);
  while (s->slots[j]) {
    if (s->slots[j] == v) return 1;
    j = (j + 1) & (s->cap - 1);
  }
  return 0;
}

void peer_set_free(struct peer_set *s) {
  free(s->slots);
  *s = (struct peer_set){0};
}

struct gre_net *gre_find_net(struct gre_state *st, uint32_t key) {
  for (size_t i = 0; i < st->nnets; i++)
    if (st->nets[i].key == key) return &st->nets[i];
  return NULL;
}

int tap_attach(const char *ifname, int *fd_out, char *err, size_t errlen) {
  /* TUNSETIFF on a name that does not exist would make a new TAP: the agent's must be there. */
  if (if_nametoindex(ifname) == 0) {
    snprintf(err, errlen, "TAP %s does not exist", ifname);
    return -1;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    snprintf(err, errlen, "open /dev/net/tun: %s", strerror(errno));
    return -1;
  }
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    snprintf(err, errlen, "attach to TAP %s: %s", ifname, strerror(errno));
    close(fd);
    return -1;
  }
  /* Checksums left to us and TCP frames up to 64 KiB: the kernel's TCP sends far fewer, larger
   * frames and we segment them (segment cost in userspace, not a syscall per MSS). */
  if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN) < 0) {
    snprintf(err, errlen, "offloads on TAP %s: %s", ifname, strerror(errno));
    close(fd);
    return -1;
  }
  *fd_out = fd;
  return 0;
}
