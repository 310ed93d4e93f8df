// Port publications, short syntax ("[IP:][PUBLISHED[-END]:]TARGET[-END][/PROTO]") and long
// syntax, expanded to one entry per port. The host address cannot be honoured by an
// ingress-routed cluster: it is dropped with a warning, as `docker stack deploy` does.
import { isMap, type Plain, type PlainMap } from './tree.js';

export interface CanonicalPort { target: number; published?: number; protocol: string; mode: string }

export interface PortResult { ports: CanonicalPort[]; errors: string[]; warnings: string[] }

const protocols = new Set(['tcp', 'udp', 'sctp']);

function parseRange(s: string, what: string, errors: string[]): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) { errors.push(`invalid ${what} port "${s}": use a number 1-65535 or a range like 8000-8010`); return undefined; }
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  for (const n of [a, b]) {
    if (n < 1 || n > 65535) { errors.push(`${what} port ${n} is out of range: ports are 1-65535`); return undefined; }
  }
  if (b < a) { errors.push(`${what} port range "${s}" runs backwards: write the lower port first`); return undefined; }
  return [a, b];
}

export function parsePortEntry(entry: Plain): PortResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (typeof entry === 'number') {
    const r = parseRange(String(entry), 'container', errors);
    return { ports: r ? [{ target: r[0], protocol: 'tcp', mode: 'ingress' }] : [], errors, warnings };
  }
  if (isMap(entry)) return parseLong(entry, errors, warnings);
  if (typeof entry !== 'string') return { ports: [], errors: ['a port is a string like "8080:80" or a mapping with target:'], warnings };

  let spec = entry.trim();
  let protocol = 'tcp';
  const slash = spec.lastIndexOf('/');
  if (slash >= 0) {
    protocol = spec.slice(slash + 1).toLowerCase();
    spec = spec.slice(0, slash);
    if (!protocols.has(protocol)) {
      return { ports: [], errors: [`unsupported protocol "${protocol}" in "${entry}": use tcp, udp or sctp`], warnings };
    }
  }
  let hostIp: string | undefined;
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']:');
    if (close < 0) return { ports: [], errors: [`invalid port "${entry}": an IPv6 host address is written [::1]:8080:80`], warnings };
    hostIp = spec.slice(1, close);
    spec = spec.slice(close + 2);
  }
  const parts = spec.split(':');
  if (hostIp === undefined && parts.length === 3) hostIp = parts.shift();
  if (parts.length > 2 || parts.length === 0) {
    return { ports: [], errors: [`invalid port "${entry}": use [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL], e.g. "8080:80/udp"`], warnings };
  }
  if (hostIp !== undefined && hostIp !== '') {
    warnings.push(`host address ${hostIp} in "${entry}" is dropped: cluster ports publish on every node`);
  }
  const target = parseRange(parts[parts.length - 1]!, 'container', errors);
  const published = parts.length === 2 && parts[0] !== '' ? parseRange(parts[0]!, 'published', errors) : undefined;
  if (!target || errors.length > 0) return { ports: [], errors, warnings };
  return { ports: expand(entry, published, target, protocol, 'ingress', errors), errors, warnings };
}

/** One entry per port: equal ranges pair up; a published range onto one container port
 *  publishes each of those ports to it, as Docker expands "8000-8010:80". */
function expand(entry: string, published: [number, number] | undefined, target: [number, number], protocol: string, mode: string, errors: string[]): CanonicalPort[] {
  const count = target[1] - target[0] + 1;
  const pubCount = published ? published[1] - published[0] + 1 : count;
  if (pubCount !== count && count !== 1) {
    errors.push(`port ranges in "${entry}" differ in length (${pubCount} published, ${count} container): make them the same size, or publish a range onto one container port`);
    return [];
  }
  const ports: CanonicalPort[] = [];
  for (let i = 0; i < Math.max(count, pubCount); i++) {
    const p: CanonicalPort = { target: target[0] + (count === 1 ? 0 : i), protocol, mode };
    if (published) p.published = published[0] + i;
    ports.push(p);
  }
  return ports;
}

function parseLong(m: PlainMap, errors: string[], warnings: string[]): PortResult {
  const target = m.target;
  if (typeof target !== 'number' || !Number.isInteger(target) || target < 1 || target > 65535) {
    errors.push(`target port ${JSON.stringify(target)} is out of range: ports are 1-65535`);
  }
  let published: [number, number] | undefined;
  if (m.published !== undefined && m.published !== null && m.published !== '') {
    published = parseRange(String(m.published), 'published', errors);
  }
  const protocol = typeof m.protocol === 'string' ? m.protocol.toLowerCase() : 'tcp';
  if (!protocols.has(protocol)) errors.push(`unsupported protocol "${protocol}": use tcp, udp or sctp`);
  const mode = typeof m.mode === 'string' ? m.mode : 'ingress';
  if (typeof m.host_ip === 'string' && m.host_ip !== '') warnings.push(`host_ip ${m.host_ip} is dropped: cluster ports publish on every node`);
  if (errors.length > 0) return { ports: [], errors, warnings };
  const t = target as number;
  return { ports: expand(`published: ${String(m.published)}`, published, [t, t], protocol, mode, errors), errors, warnings };
}

export function portKey(p: CanonicalPort): string {
  return `${p.published ?? ''}:${p.target}/${p.protocol}/${p.mode}`;
}
