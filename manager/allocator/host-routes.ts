// The IPv4 routes of the manager's own host (the underlay as this host sees it): a network whose
// subnet overlaps one would make that destination unreachable from tasks. Read from
// /proc/net/route (no process to spawn); the default route is not a conflict.
import { readFileSync } from 'node:fs';
import type { Cidr } from './cidr.js';

export interface HostRoute {
  readonly cidr: Cidr;
  readonly dev: string;
}

export type HostRoutes = () => HostRoute[];

/** /proc/net/route keeps addresses as little-endian hex. */
function fromHex(h: string): number {
  const n = parseInt(h, 16);
  return (((n & 255) << 24) >>> 0) + ((n >>> 8) & 255) * 65536 + ((n >>> 16) & 255) * 256 + ((n >>> 24) & 255);
}

function prefixOf(mask: number): number {
  let p = 0;
  while (p < 32 && mask & (2 ** (31 - p))) p++;
  return p;
}

export function parseProcRoutes(text: string): HostRoute[] {
  const out: HostRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const prefix = prefixOf(fromHex(f[7]!));
    if (prefix === 0) continue;
    const base = fromHex(f[1]!);
    out.push({ cidr: { base: base - (base % 2 ** (32 - prefix)), prefix }, dev: f[0]! });
  }
  return out;
}

export const procHostRoutes: HostRoutes = () => {
  try {
    return parseProcRoutes(readFileSync('/proc/net/route', 'utf8'));
  } catch {
    return [];
  }
};
