// nftables text of the VIP table (kube-proxy's nftables pattern): one verdict map from VIP to
// the service's chain, in it `numgen random mod N vmap` to one chain per backend that DNATs.
// Pure functions: the table's base, and the small transactions that change one service.
import { createHash } from 'node:crypto';

/** The VIP table (family ip): its own, so it never fights the overlay's `inet shoal_overlay`. */
export const VIP_TABLE = 'shoal_vip';
/** Packet mark bit of a connection a backend makes to its own VIP (masqueraded, else its reply would skip the NAT). */
export const HAIRPIN_MARK = '0x00400000';

const T = `ip ${VIP_TABLE}`;

function hash10(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 10);
}

export function serviceChain(networkId: string, serviceId: string): string {
  return `svc_${hash10(networkId, serviceId)}`;
}

export function backendChain(networkId: string, serviceId: string, address: string): string {
  return `be_${hash10(networkId, serviceId, address)}`;
}

/** The whole table, empty of services: replaces whatever was there (start-up only, never the hot path). */
export function baseTable(): string {
  return (
    `table ${T} {}\ndelete table ${T}\n` +
    `table ${T} {\n` +
    `  map vips {\n    type ipv4_addr : verdict\n  }\n` +
    `  set vipaddrs {\n    type ipv4_addr\n  }\n` +
    // Tasks' connections (prerouting) and the host's own (output) to a VIP, any port.
    `  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    ip daddr vmap @vips\n  }\n` +
    `  chain output {\n    type nat hook output priority -100; policy accept;\n    ip daddr vmap @vips\n  }\n` +
    `  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    meta mark & ${HAIRPIN_MARK} == ${HAIRPIN_MARK} masquerade\n  }\n` +
    // What reaches a VIP undNATed (a service with no healthy task) is refused at once, never
    // answered by the host's own sockets and never left to time out.
    `  chain input {\n    type filter hook input priority filter; policy accept;\n` +
    `    ip daddr @vipaddrs meta l4proto tcp reject with tcp reset\n    ip daddr @vipaddrs reject\n  }\n` +
    `}\n`
  );
}

export function deleteTable(): string {
  return `table ${T} {}\ndelete table ${T}\n`;
}

function backendLines(chain: string, address: string): string[] {
  return [
    `add chain ${T} ${chain}`,
    `add rule ${T} ${chain} ip saddr ${address} meta mark set meta mark or ${HAIRPIN_MARK}`,
    `add rule ${T} ${chain} dnat to ${address}`,
  ];
}

/** The service chain's one rule: a random backend per new connection; none = fall through to the reject. */
function dispatchLines(svc: string, chains: readonly string[]): string[] {
  if (chains.length === 0) return [];
  const vmap = chains.map((c, i) => `${i} : goto ${c}`).join(', ');
  return [`add rule ${T} ${svc} numgen random mod ${chains.length} vmap { ${vmap} }`];
}

export interface ServiceRules {
  vip: string;
  svc: string;
  /** backend address -> its chain, in dispatch order */
  backends: Map<string, string>;
}

export function addServiceLines(s: ServiceRules): string[] {
  const lines: string[] = [];
  for (const [addr, chain] of s.backends) lines.push(...backendLines(chain, addr));
  lines.push(`add chain ${T} ${s.svc}`);
  lines.push(...dispatchLines(s.svc, [...s.backends.values()]));
  lines.push(`add element ${T} vips { ${s.vip} : goto ${s.svc} }`, `add element ${T} vipaddrs { ${s.vip} }`);
  return lines;
}

export function removeServiceLines(s: ServiceRules): string[] {
  return [
    `delete element ${T} vips { ${s.vip} }`,
    `delete element ${T} vipaddrs { ${s.vip} }`,
    `flush chain ${T} ${s.svc}`,
    `delete chain ${T} ${s.svc}`,
    ...[...s.backends.values()].map((c) => `delete chain ${T} ${c}`),
  ];
}

/**
 * One service's backends changed: new backend chains, the service chain's dispatch rule
 * rewritten (its only rule), removed backend chains deleted. Nothing else in the table moves.
 */
export function changeBackendsLines(svc: string, next: Map<string, string>, added: Map<string, string>, removed: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [addr, chain] of added) lines.push(...backendLines(chain, addr));
  lines.push(`flush chain ${T} ${svc}`, ...dispatchLines(svc, [...next.values()]));
  for (const chain of removed.values()) lines.push(`delete chain ${T} ${chain}`);
  return lines;
}
