// The two directions of the GRE data path.
//   rx: recvmmsg a batch from the raw socket, check each packet (Ethernet over GRE with a key,
//       from a peer of that key), and write the inner frame to the key's TAP.
//   tx: read frames from a TAP (with IFF_VNET_HDR: up to 64 KiB TCP frames the kernel did not
//       segment, checksums left partial), cut them into MSS segments with their checksums done,
//       put a GRE header in front of each and sendmmsg the lot to the peers' underlay addresses.
// The destination peer comes from the frame's destination MAC: the agent programs each peer's
// neighbour entry on the TAP with a MAC that carries the peer's IPv4 address (0e:5c:a.b.c.d).
#include "gre.h"
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TX_MSGS 1024 /* UIO_MAXIOV: the most one sendmmsg takes */
#define RX_ROUNDS 8  /* batches per wake-up before other descriptors get a turn */
#define L234_MAX (14 + 60 + 60)

static uint8_t rxbuf[GRE_BATCH][65536];
static struct mmsghdr rxmsg[GRE_BATCH];
static struct iovec rxiov[GRE_BATCH];
static struct sockaddr_in rxfrom[GRE_BATCH];

static uint8_t txbuf[GRE_TX_FRAMES][GRE_FRAME_MAX];
static uint8_t txhdr[TX_MSGS][L234_MAX]; /* per segment: its own copy of the L2-L4 headers */
static uint8_t grehdr[TX_MSGS][GRE_HDR_LEN];
static struct mmsghdr txmsg[TX_MSGS];
static struct iovec txiov[TX_MSGS][3];
static struct sockaddr_in txdst[TX_MSGS];
static size_t ntx;

int datapath_init(struct gre_state *st, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  for (int i = 0; i < GRE_BATCH; i++) {
    rxiov[i].iov_base = rxbuf[i];
    rxiov[i].iov_len = sizeof rxbuf[i];
    rxmsg[i].msg_hdr.msg_iov = &rxiov[i];
    rxmsg[i].msg_hdr.msg_iovlen = 1;
    rxmsg[i].msg_hdr.msg_name = &rxfrom[i];
    rxmsg[i].msg_hdr.msg_namelen = sizeof rxfrom[i];
  }
  (void)st;
  return 0;
}

uint64_t csum_add(uint64_t sum, const void *data, size_t len) {
  const uint8_t *p = data;
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    sum += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len) {
    uint8_t tail[2] = {*p, 0}; /* an odd last byte counts as if padded with zero */
    uint16_t w;
    memcpy(&w, tail, 2);
    sum += w;
  }
  return sum;
}

uint16_t csum_fold(uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void tx_flush(struct gre_state *st) {
  size_t sent = 0;
  while (sent < ntx) {
    int r = sendmmsg(st->raw, txmsg + sent, (unsigned)(ntx - sent), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      /* The first message failed (e.g. EMSGSIZE, no route to the peer): drop it, go on. */
      st->tx_drop++;
      sent++;
      continue;
    }
    st->tx_pkts += (uint64_t)r;
    sent += (size_t)r;
  }
  ntx = 0;
}

/* Queues one GRE packet: the key's header, then up to two pieces of the inner frame. */
static void tx_emit(struct gre_state *st, uint32_t key, uint32_t dst, const void *a, size_t alen, const void *b, size_t blen) {
  if (ntx == TX_MSGS) tx_flush(st);
  size_t i = ntx++;
  uint8_t *g = grehdr[i];
  g[0] = 0x20; /* K: a key follows */
  g[1] = 0x00;
  g[2] = GRE_PROTO_TEB >> 8;
  g[3] = GRE_PROTO_TEB & 0xff;
  uint32_t k = htonl(key);
  memcpy(g + 4, &k, 4);
  txiov[i][0] = (struct iovec){g, GRE_HDR_LEN};
  txiov[i][1] = (struct iovec){(void *)a, alen};
  txiov[i][2] = (struct iovec){(void *)b, blen};
  txdst[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = dst};
  txmsg[i].msg_hdr = (struct msghdr){
      .msg_name = &txdst[i], .msg_namelen = sizeof txdst[i], .msg_iov = txiov[i], .msg_iovlen = blen ? 3 : 2};
}

/* Cuts one IPv4 TCP frame that the kernel handed over unsegmented (TSO) into MSS segments. */
static int tx_segment(struct gre_state *st, uint32_t key, uint32_t dst, uint8_t *f, size_t flen, size_t mss) {
  if (flen < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || mss == 0) return -1;
  uint8_t *ip = f + 14;
  size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
  if (ihl < 20 || flen < 14 + ihl + 20 || ip[9] != IPPROTO_TCP) return -1;
  uint8_t *tcp = ip + ihl;
  size_t doff = (size_t)(tcp[12] >> 4) * 4;
  size_t hlen = 14 + ihl + doff;
  if (doff < 20 || hlen > flen || hlen > L234_MAX) return -1;
  const uint8_t *payload = f + hlen;
  size_t plen = flen - hlen;
  uint16_t id0 = (uint16_t)(ip[4] << 8 | ip[5]);
  uint32_t seq0;
  memcpy(&seq0, tcp + 4, 4);
  seq0 = ntohl(seq0);
  for (size_t off = 0, n = 0; off < plen || (plen == 0 && n == 0); off += mss, n++) {
    size_t seg = plen - off < mss ? plen - off : mss;
    int last = off + seg >= plen;
    if (ntx == TX_MSGS) tx_flush(st);
    uint8_t *h = txhdr[ntx];
    memcpy(h, f, hlen);
    uint8_t *sip = h + 14, *stcp = sip + ihl;
    uint16_t tot = (uint16_t)(ihl + doff + seg), id = (uint16_t)(id0 + n);
    sip[2] = (uint8_t)(tot >> 8), sip[3] = (uint8_t)tot;
    sip[4] = (uint8_t)(id >> 8), sip[5] = (uint8_t)id;
    sip[10] = sip[11] = 0;
    uint16_t c = csum_fold(csum_add(0, sip, ihl));
    memcpy(sip + 10, &c, 2);
    uint32_t seq = htonl(seq0 + (uint32_t)off);
    memcpy(stcp + 4, &seq, 4);
    if (!last) stcp[13] &= (uint8_t)~0x09; /* FIN and PSH only on the last segment */
    if (n > 0) stcp[13] &= (uint8_t)~0x80; /* CWR only on the first */
    stcp[16] = stcp[17] = 0;
    uint16_t tcplen = (uint16_t)(doff + seg);
    uint8_t pseudo[12];
    memcpy(pseudo, sip + 12, 8);
    pseudo[8] = 0, pseudo[9] = IPPROTO_TCP, pseudo[10] = (uint8_t)(tcplen >> 8), pseudo[11] = (uint8_t)tcplen;
    uint64_t sum = csum_add(csum_add(csum_add(0, pseudo, 12), stcp, doff), payload + off, seg);
    c = csum_fold(sum);
    memcpy(stcp + 16, &c, 2);
    tx_emit(st, key, dst, h, hlen, payload + off, seg);
    st->tx_segs++;
    if (plen == 0) break;
  }
  return 0;
}

void datapath_tx(struct gre_state *st, struct gre_net *net) {
  for (int i = 0; i < GRE_TX_FRAMES; i++) {
    ssize_t n = read(net->fd, txbuf[i], GRE_FRAME_MAX);
    if (n < 0) {
      if (errno == EINTR) continue;
      break; /* EAGAIN: drained; EBADFD/EIO: the TAP went away, the agent will say so */
    }
    if ((size_t)n < sizeof(struct virtio_net_hdr) + 14) continue;
    struct virtio_net_hdr vh;
    memcpy(&vh, txbuf[i], sizeof vh);
    uint8_t *f = txbuf[i] + sizeof vh;
    size_t flen = (size_t)n - sizeof vh;
    /* Only unicast to a peer's derived MAC: no flooding (neighbours are programmed, never learned). */
    if (f[0] != 0x0e || f[1] != 0x5c) {
      st->tx_drop++;
      continue;
    }
    uint32_t dst;
    memcpy(&dst, f + 2, 4);
    if (!peer_set_has(&st->peers, net->key, dst)) {
      st->tx_drop++;
      continue;
    }
    uint8_t gso = vh.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    if (gso == VIRTIO_NET_HDR_GSO_TCPV4) {
      if (tx_segment(st, net->key, dst, f, flen, vh.gso_size) < 0) st->tx_drop++;
      continue;
    }
    if (gso != VIRTIO_NET_HDR_GSO_NONE) {
      st->tx_drop++;
      continue;
    }
    if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      size_t cs = vh.csum_start, co = vh.csum_offset;
      if (cs + co + 2 > flen) {
        st->tx_drop++;
        continue;
      }
      /* The field holds the pseudo-header sum already: summing over it completes it. */
      uint16_t c = csum_fold(csum_add(0, f + cs, flen - cs));
      memcpy(f + cs + co, &c, 2);
    }
    tx_emit(st, net->key, dst, f, flen, NULL, 0);
  }
  tx_flush(st);
}

void datapath_rx(struct gre_state *st) {
  struct gre_net *net = NULL;
  for (int round = 0; round < RX_ROUNDS; round++) {
    for (int i = 0; i < GRE_BATCH; i++) rxmsg[i].msg_hdr.msg_namelen = sizeof rxfrom[i];
    int n = recvmmsg(st->raw, rxmsg, GRE_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    for (int i = 0; i < n; i++) {
      uint8_t *p = rxbuf[i];
      size_t len = rxmsg[i].msg_len;
      if (len < 20 || (p[0] >> 4) != 4) goto drop;
      size_t ihl = (size_t)(p[0] & 0x0f) * 4;
      size_t tot = (size_t)(p[2] << 8 | p[3]);
      if (tot < len) len = tot;
      if (len < ihl + 4) goto drop;
      uint8_t *g = p + ihl;
      uint16_t flags = (uint16_t)(g[0] << 8 | g[1]);
      uint16_t proto = (uint16_t)(g[2] << 8 | g[3]);
      /* C (checksum) and S (sequence) are skipped; R and versions other than 0 are refused. */
      if ((flags & 0x4007) || !(flags & 0x2000) || proto != GRE_PROTO_TEB) goto drop;
      size_t off = 4 + ((flags & 0x8000) ? 4 : 0);
      if (len < ihl + off + 4) goto drop;
      uint32_t key;
      memcpy(&key, g + off, 4);
      key = ntohl(key);
      off += 4 + ((flags & 0x1000) ? 4 : 0);
      if (len < ihl + off + 14) goto drop;
      uint32_t src;
      memcpy(&src, p + 12, 4);
      if (!net || net->key != key) net = gre_find_net(st, key);
      if (!net || !peer_set_has(&st->peers, key, src)) goto drop;
      rx_deliver(st, net, (uint8_t *)(g + off), len - ihl - off);
      continue;
    drop:
      st->rx_drop++;
    }
    rx_flush(st); /* a run never spans batches: the next recvmmsg reuses the buffers */
    if (n < GRE_BATCH) return;
  }
}
