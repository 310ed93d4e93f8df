// IPv4 addresses and prefixes as 32-bit numbers: enough to check the allocator's records and
// to test containment without a library.

export interface Prefix {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  len: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIPv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Parses "a.b.c.d/len"; `strict` refuses host bits set (a subnet must be its network address). */
export function parsePrefix(text: string, strict: boolean): { addr: number; prefix: Prefix } | null {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m) return null;
  const addr = parseIPv4(m[1]!);
  const len = Number(m[2]);
  if (addr === null || len > 32) return null;
  const base = (addr & mask(len)) >>> 0;
  if (strict && base !== addr) return null;
  return { addr, prefix: { base, len } };
}

export function contains(outer: Prefix, addr: number): boolean {
  return ((addr & mask(outer.len)) >>> 0) === outer.base;
}

export function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  return inner.len >= outer.len && contains(outer, inner.base);
}

export function broadcastOf(p: Prefix): number {
  return (p.base | (~mask(p.len) >>> 0)) >>> 0;
}

export function formatPrefix(p: Prefix): string {
  return `${formatIPv4(p.base)}/${p.len}`;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A unicast, non-zero MAC in lower case, or null. */
export function normalizeMac(text: string): string | null {
  const mac = text.toLowerCase();
  if (!MAC.test(mac) || mac === '00:00:00:00:00:00') return null;
  if (parseInt(mac.slice(0, 2), 16) & 1) return null; // multicast bit
  return mac;
}
