// shoal-gre: the userspace GRE data path for hosts whose kernel has no ip_gre/gretap.
// One single-threaded process per host: TAP devices (one per GRE network, made persistent by
// the agent) on one side, one raw IPPROTO_GRE socket on the other, an epoll loop between them.
#ifndef SHOAL_GRE_H
#define SHOAL_GRE_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define GRE_MAX_NETS 4096
#define GRE_BATCH 64          /* messages per recvmmsg/sendmmsg */
#define GRE_TX_FRAMES 16      /* TAP reads (each up to 64 KiB with TSO) per batch */
#define GRE_FRAME_MAX 65550   /* vnet header + a 64 KiB GSO frame */
#define GRE_PROTO_TEB 0x6558  /* Transparent Ethernet Bridging: Ethernet over GRE */
#define GRE_HDR_LEN 8         /* flags/version, protocol, key */

struct gre_net {
  uint32_t key;
  char ifname[16];
  int fd;
};

/* Set of (key, underlay address) pairs allowed to exchange frames; open addressing. */
struct peer_set {
  uint64_t *slots; /* (key << 32) | addr in network order; 0 = empty */
  size_t cap, len;
};

int peer_set_add(struct peer_set *s, uint32_t key, uint32_t addr);
int peer_set_has(const struct peer_set *s, uint32_t key, uint32_t addr);
void peer_set_free(struct peer_set *s);

struct gre_state {
  int epfd;
  int raw;                 /* socket(AF_INET, SOCK_RAW, IPPROTO_GRE) */
  struct gre_net nets[GRE_MAX_NETS];
  size_t nnets;
  struct peer_set peers;
  uint64_t rx_pkts, tx_pkts, rx_drop, tx_drop, tx_segs, rx_gro;
};

struct gre_net *gre_find_net(struct gre_state *st, uint32_t key);

/* TAP: attach to an existing persistent TAP by name (never creates one). */
int tap_attach(const char *ifname, int *fd_out, char *err, size_t errlen);

/* Data path (datapath.c). */
int datapath_init(struct gre_state *st, char *err, size_t errlen);
void datapath_rx(struct gre_state *st);
void datapath_tx(struct gre_state *st, struct gre_net *net);

/* Offloads (segment.c): completes a partial checksum / cuts a TSO frame into MSS segments. */
struct virtio_net_hdr;
uint16_t csum_fold(uint64_t sum);
uint64_t csum_add(uint64_t sum, const void *data, size_t len);

/* Receive offload (coalesce.c): hands a received inner frame to its TAP, joining consecutive
 * segments of one TCP flow into one GSO frame; rx_flush writes what is pending. */
void rx_deliver(struct gre_state *st, struct gre_net *net, uint8_t *frame, size_t len);
void rx_flush(struct gre_state *st);

/* Control socket (control.c). */
int control_listen(const char *path, char *err, size_t errlen);
void control_accept(struct gre_state *st, int lfd);
/* Returns 0 to keep the client, -1 when it is gone (closed by the caller). */
int control_read(struct gre_state *st, int cfd);

void gre_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
