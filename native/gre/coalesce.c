// Receive offload: consecutive TCP segments of one flow that arrive in one recvmmsg batch are
// written to the TAP as one large frame with a virtio GSO header (TCPV4, the segments' MSS),
// as the kernel's GRO would have done on a real NIC. The stack behind the TAP (routing,
// nftables, bridge, veth, the task's TCP) then runs once per run of segments instead of once
// per segment. Each segment's TCP checksum is checked before it joins a run (GRE carries no
// checksum of its own); a segment that fails goes to the TAP alone and the kernel drops it.
#include "gre.h"
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/uio.h>

#define RUN_MAX 44 /* segments per run: 44 x 1460 stays under 64 KiB */

static struct {
  struct gre_net *net;
  uint8_t *first; /* the first segment's frame: its headers become the run's */
  size_t hlen, mss, total, nseg;
  uint32_t next_seq;
  int psh, last_short;
  struct iovec iov[2 + RUN_MAX];
} run;

static void write_single(struct gre_state *st, struct gre_net *net, const uint8_t *f, size_t len) {
  struct virtio_net_hdr vh = {0};
  struct iovec iov[2] = {{&vh, sizeof vh}, {(void *)f, len}};
  if (writev(net->fd, iov, 2) < 0) st->rx_drop++;
  else st->rx_pkts++;
}

void rx_flush(struct gre_state *st) {
  if (!run.net) return;
  if (run.nseg == 1) {
    write_single(st, run.net, run.first, run.hlen + run.total);
    run.net = NULL;
    return;
  }
  uint8_t *ip = run.first + 14, *tcp = ip + 20;
  size_t doff = run.hlen - 14 - 20;
  uint16_t tot = (uint16_t)(20 + doff + run.total);
  ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot;
  ip[10] = ip[11] = 0;
  uint16_t c = csum_fold(csum_add(0, ip, 20));
  memcpy(ip + 10, &c, 2);
  if (run.psh) tcp[13] |= 0x08;
  /* CHECKSUM_PARTIAL: the field holds the pseudo-header sum over the whole run's length. */
  uint16_t tcplen = (uint16_t)(doff + run.total);
  uint8_t pseudo[12];
  memcpy(pseudo, ip + 12, 8);
  pseudo[8] = 0, pseudo[9] = IPPROTO_TCP, pseudo[10] = (uint8_t)(tcplen >> 8), pseudo[11] = (uint8_t)tcplen;
  c = (uint16_t)~csum_fold(csum_add(0, pseudo, 12));
  memcpy(tcp + 16, &c, 2);
  struct virtio_net_hdr vh = {
      .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
      .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
      .hdr_len = (uint16_t)run.hlen,
      .gso_size = (uint16_t)run.mss,
      .csum_start = 14 + 20,
      .csum_offset = 16,
  };
  run.iov[0] = (struct iovec){&vh, sizeof vh};
  run.iov[1] = (struct iovec){run.first, run.hlen};
  if (writev(run.net->fd, run.iov, (int)(2 + run.nseg)) < 0) st->rx_drop += run.nseg;
  else st->rx_pkts += run.nseg, st->rx_gro++;
  run.net = NULL;
}

/* A plain IPv4 TCP data segment (no IP options, not a fragment, only ACK/PSH) with a good
 * checksum: returns its header length and payload length through the pointers. */
static int coalescible(const uint8_t *f, size_t len, size_t *hlen, size_t *plen) {
  if (len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00) return 0;
  const uint8_t *ip = f + 14;
  if (ip[0] != 0x45 || ip[9] != IPPROTO_TCP || (ip[6] & 0x3f) || ip[7]) return 0;
  size_t tot = (size_t)(ip[2] << 8 | ip[3]);
  if (tot > len - 14) return 0;
  const uint8_t *tcp = ip + 20;
  size_t doff = (size_t)(tcp[12] >> 4) * 4;
  if (doff < 20 || 20 + doff >= tot) return 0;
  uint8_t flags = tcp[13];
  if (!(flags & 0x10) || (flags & (uint8_t)~0x18)) return 0;
  uint8_t pseudo[12];
  memcpy(pseudo, ip + 12, 8);
  pseudo[8] = 0, pseudo[9] = IPPROTO_TCP, pseudo[10] = (uint8_t)((tot - 20) >> 8), pseudo[11] = (uint8_t)(tot - 20);
  if (csum_fold(csum_add(csum_add(0, pseudo, 12), tcp, tot - 20)) != 0) return 0;
  *hlen = 14 + 20 + doff;
  *plen = tot - 20 - doff;
  return 1;
}

static int joins(struct gre_net *net, const uint8_t *f, size_t hlen, size_t plen) {
  if (run.net != net || run.psh || run.last_short || hlen != run.hlen || plen > run.mss || run.nseg == RUN_MAX) return 0;
  if (20 + (hlen - 34) + run.total + plen > 65535) return 0;
  const uint8_t *a = run.first, *b = f;
  const uint8_t *ia = a + 14, *ib = b + 14, *ta = ia + 20, *tb = ib + 20;
  uint32_t seq;
  memcpy(&seq, tb + 4, 4);
  if (ntohl(seq) != run.next_seq) return 0;
  /* Same MACs, TOS, DF, TTL, addresses, ports, ack, window and options (timestamps too). */
  return memcmp(a, b, 14) == 0 && ia[1] == ib[1] && ia[6] == ib[6] && ia[8] == ib[8] && memcmp(ia + 12, ib + 12, 8) == 0 &&
         memcmp(ta, tb, 4) == 0 && memcmp(ta + 8, tb + 8, 4) == 0 && memcmp(ta + 14, tb + 14, 2) == 0 &&
         memcmp(ta + 20, tb + 20, hlen - 54) == 0;
}

void rx_deliver(struct gre_state *st, struct gre_net *net, uint8_t *f, size_t len) {
  size_t hlen, plen;
  if (!coalescible(f, len, &hlen, &plen)) {
    rx_flush(st);
    write_single(st, net, f, len);
    return;
  }
  const uint8_t *tcp = f + 14 + 20;
  uint32_t seq;
  memcpy(&seq, tcp + 4, 4);
  if (!joins(net, f, hlen, plen)) {
    rx_flush(st);
    run.net = net;
    run.first = f;
    run.hlen = hlen;
    run.mss = plen;
    run.total = 0;
    run.nseg = 0;
    run.psh = 0;
    run.last_short = 0;
  }
  run.iov[2 + run.nseg] = (struct iovec){f + hlen, plen};
  run.nseg++;
  run.total += plen;
  run.next_seq = ntohl(seq) + (uint32_t)plen;
  run.psh |= (tcp[13] & 0x08) != 0;
  run.last_short = plen < run.mss;
}
