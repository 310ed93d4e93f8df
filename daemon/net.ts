// Address helpers: the default advertise address is this host's first non-internal IPv4.
import { networkInterfaces } from 'node:os';

export function defaultAdvertiseHost(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function hostOf(addr: string): string {
  const i = addr.lastIndexOf(':');
  return i > 0 ? addr.slice(0, i) : addr;
}

export function portOf(addr: string, dflt = 4243): number {
  const i = addr.lastIndexOf(':');
  const p = i >= 0 ? Number(addr.slice(i + 1)) : NaN;
  return Number.isInteger(p) && p > 0 ? p : dflt;
}
