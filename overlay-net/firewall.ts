// Isolation and egress in one nftables table of shoal's own, rewritten whole in one atomic
// `nft -f` transaction when a network comes or goes. Its size follows the networks on this
// host, never their endpoints: per-endpoint changes do not touch nftables at all.
import { NFT_TABLE, LINK_PREFIX, INGRESS_CT_MARK } from './names.js';

export interface FirewallNetwork {
  cidr: string;
  bridge: string;
  /** Where the network's traffic to and from peers passes: its VXLAN device or the underlay. */
  peerInterface: string;
  internal: boolean;
}

export function renderFirewall(networks: readonly FirewallNetwork[]): string {
  const head = `table inet ${NFT_TABLE} {}\ndelete table inet ${NFT_TABLE}\n`;
  if (networks.length === 0) return head;
  const all = networks.map((n) => n.cidr).join(', ');
  const forward: string[] = [];
  const nat: string[] = [];
  for (const n of networks) {
    const same = `ip saddr ${n.cidr} ip daddr ${n.cidr}`;
    // Bridged traffic between tasks of one host reaches this hook too where br_netfilter is on.
    forward.push(`iifname "${n.bridge}" oifname "${n.bridge}" accept`);
    forward.push(`iifname "${n.bridge}" oifname "${n.peerInterface}" ${same} accept`);
    forward.push(`iifname "${n.peerInterface}" oifname "${n.bridge}" ${same} accept`);
    if (!n.internal) {
      const out = `iifname "${n.bridge}" ip saddr ${n.cidr} ip daddr != @subnets oifname != "${LINK_PREFIX}*"`;
      forward.push(`${out} accept`);
      nat.push(`${out} masquerade`);
    }
  }
  return (
    head +
    `table inet ${NFT_TABLE} {\n` +
    `  set subnets { type ipv4_addr; flags interval; elements = { ${all} } }\n` +
    `  chain forward {\n    type filter hook forward priority filter; policy accept;\n` +
    // A flow is only ever established if its first packet passed the rules below.
    `    ct state established,related accept\n` +
    forward.map((l) => `    ${l}\n`).join('') +
    // Published ports (overlay-net/ingress) DNAT into a bridge from outside any network.
    `    ct mark & ${INGRESS_CT_MARK} == ${INGRESS_CT_MARK} oifname "${LINK_PREFIX}b*" accept\n` +
    `    iifname "${LINK_PREFIX}*" drop\n    oifname "${LINK_PREFIX}*" drop\n  }\n` +
    `  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n` +
    nat.map((l) => `    ${l}\n`).join('') +
    `  }\n}\n`
  );
}
