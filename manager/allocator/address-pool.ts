// The addresses of one network: who holds which, and the next free one. Addresses are handed out
// serially from where the last one was taken (as Swarm's allocator does), so a just-freed address
// is the last to be reused and stale DNS or neighbour entries for it have time to expire.
import { containsAddr, formatIPv4, last, size, type Cidr } from './cidr.js';

export type ClaimResult = { ok: true } | { ok: false; holder: string };

export class AddressPool {
  private readonly owners = new Map<number, string>();
  private cursor: number;

  /** range: where task and VIP addresses come from (the subnet itself unless --ip-range). */
  constructor(
    readonly subnet: Cidr,
    readonly range: Cidr,
    readonly gateway: number,
  ) {
    this.cursor = range.base;
  }

  /** Addresses tasks and VIPs may hold: the range minus network, broadcast and gateway. */
  get capacity(): number {
    let n = size(this.range);
    for (const reserved of [this.subnet.base, last(this.subnet), this.gateway]) if (containsAddr(this.range, reserved)) n--;
    return Math.max(0, n);
  }

  get inUse(): number {
    return this.owners.size;
  }

  holderOf(ip: number): string | undefined {
    return this.owners.get(ip);
  }

  private usable(ip: number): boolean {
    return ip !== this.subnet.base && ip !== last(this.subnet) && ip !== this.gateway && containsAddr(this.range, ip);
  }

  /** The next free address after the last one given, for owner; undefined when full. */
  allocate(owner: string): number | undefined {
    if (this.owners.size >= this.capacity) return undefined;
    const first = this.range.base;
    const span = size(this.range);
    for (let i = 0; i < span; i++) {
      const ip = first + ((this.cursor - first + i) % span);
      if (!this.usable(ip) || this.owners.has(ip)) continue;
      this.owners.set(ip, owner);
      this.cursor = ip + 1 > last(this.range) ? first : ip + 1;
      return ip;
    }
    return undefined;
  }

  /** Records that owner holds ip (read back from the store). Idempotent for the same owner. */
  claim(ip: number, owner: string): ClaimResult {
    const holder = this.owners.get(ip);
    if (holder !== undefined && holder !== owner) return { ok: false, holder };
    if (!containsAddr(this.subnet, ip)) return { ok: false, holder: `outside ${formatIPv4(this.subnet.base)}/${this.subnet.prefix}` };
    this.owners.set(ip, owner);
    return { ok: true };
  }

  /** Frees ip if owner holds it (a stale release from an older owner changes nothing). */
  release(ip: number, owner: string): boolean {
    if (this.owners.get(ip) !== owner) return false;
    this.owners.delete(ip);
    return true;
  }
}
