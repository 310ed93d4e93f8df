// IPv4 addresses and CIDR blocks as plain unsigned 32-bit numbers: all the allocator needs is
// parse, format, contains and overlap, which a library would not make shorter.
import { isIPv4, isIPv6 } from 'node:net';

/** A block of addresses: base is the first address (host bits zero), size a power of two. */
export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

/** A user's address or block is not IPv4 CIDR (the message names the input and the fix). */
export class CidrError extends Error {}

export function parseIPv4(s: string): number | undefined {
  if (!isIPv4(s)) return undefined;
  return s.split('.').reduce((acc, b) => acc * 256 + Number(b), 0);
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** The last address of the block. */
export function last(c: Cidr): number {
  return c.base + size(c) - 1;
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

/**
 * Parses "a.b.c.d/n". `what` names the input in errors ("subnet", "--ip-range"). Host bits must
 * be zero (10.0.9.1/24 is refused with the block it probably means), as Docker does.
 */
export function parseCidr(s: string, what: string): Cidr {
  const [addr = '', bits, extra] = s.split('/');
  if (isIPv6(addr)) throw new CidrError(`${what} "${s}" is IPv6: only IPv4 subnets are supported so far`);
  const ip = parseIPv4(addr);
  if (ip === undefined || extra !== undefined || bits === undefined || !/^\d{1,2}$/.test(bits) || Number(bits) > 32) {
    throw new CidrError(`${what} "${s}" is not an IPv4 CIDR block; write e.g. 10.0.9.0/24`);
  }
  const prefix = Number(bits);
  const base = prefix === 0 ? 0 : ip - (ip % 2 ** (32 - prefix));
  if (base !== ip) throw new CidrError(`${what} "${s}" has host bits set; write ${formatIPv4(base)}/${prefix}`);
  return { base, prefix };
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= last(b) && b.base <= last(a);
}

export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.base <= inner.base && last(inner) <= last(outer);
}

export function containsAddr(c: Cidr, ip: number): boolean {
  return c.base <= ip && ip <= last(c);
}

/** 02:42 then the address's four bytes, as Docker: unique wherever the address is. */
export function macForAddress(ip: number): string {
  return ['02', '42', ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255]
    .map((b) => (typeof b === 'string' ? b : b.toString(16).padStart(2, '0')))
    .join(':');
}
