// The host's underlay: the interface holding the address the host was given, its MTU and the
// prefixes it is directly connected to (what "same L2 segment" means for host-gw).
import { parsePrefix, type Prefix } from './addr.js';
import { UnderlayNotFoundError } from './errors.js';
import type { Kernel } from './kernel.js';

export interface Underlay {
  address: string;
  device: string;
  mtu: number;
  connected: Prefix[];
}

interface IpAddrJson {
  ifname: string;
  mtu: number;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export async function detectUnderlay(kernel: Kernel, address: string): Promise<Underlay> {
  const links = await kernel.json<IpAddrJson[]>(['ip', '-j', '-4', 'addr', 'show']);
  for (const link of links) {
    const infos = (link.addr_info ?? []).filter((a) => a.family === 'inet');
    if (!infos.some((a) => a.local === address)) continue;
    const connected = infos
      .map((a) => parsePrefix(`${a.local}/${a.prefixlen}`, false)?.prefix)
      .filter((p): p is Prefix => p !== undefined && p.len < 32);
    return { address, device: link.ifname, mtu: link.mtu, connected };
  }
  throw new UnderlayNotFoundError(
    `underlay address ${address} is on no interface of this host; give the address the host's other nodes reach it at`,
  );
}
