// The text of a container's /etc/resolv.conf and /etc/hosts (the agent places them), and the
// host's own resolvers, read from its resolv.conf.
import { isIP } from 'node:net';
import { InvalidNetworkInputError } from '../errors.js';

/** A resolver the embedded server forwards to: "ip" or "ip:port" (port 53 when left out). */
export interface Upstream {
  address: string;
  port: number;
}

export function parseUpstream(s: string): Upstream {
  const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(s.trim());
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  if (!m || isIP(m[1]!) !== 4 || port < 1 || port > 65535)
    throw new InvalidNetworkInputError(`DNS server ${JSON.stringify(s)} is not an IPv4 address (optionally :port)`);
  return { address: m[1]!, port };
}

/** IPv4 nameservers of a resolv.conf text (the host's resolvers). IPv6 ones are skipped: the server forwards over IPv4. */
export function resolversOf(resolvConf: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && isIP(m[1]!) === 4) out.push({ address: m[1]!, port: 53 });
  }
  return out;
}

export interface ResolvConfInput {
  /** Where the embedded server listens for this container: the gateways of its networks, first network first. */
  nameservers: readonly string[];
  /** The service's `dns_search`. */
  search?: readonly string[];
  /** The service's `dns_opt` (e.g. "timeout:2", "ndots:3"). */
  options?: readonly string[];
}

const SAFE_WORD = /^[A-Za-z0-9._:-]+$/;

/**
 * resolv.conf of a container: the embedded server only (it forwards what it does not know, to
 * the service's `dns` or the host's resolvers), the service's search domains and options.
 * `ndots:0` unless the user set ndots, as Docker does, so a service name is tried as given first.
 */
export function containerResolvConf(input: ResolvConfInput): string {
  if (input.nameservers.length === 0) throw new InvalidNetworkInputError('a container resolv.conf needs at least one nameserver');
  for (const ns of input.nameservers)
    if (isIP(ns) !== 4) throw new InvalidNetworkInputError(`nameserver ${JSON.stringify(ns)} is not an IPv4 address`);
  for (const w of [...(input.search ?? []), ...(input.options ?? [])])
    if (!SAFE_WORD.test(w)) throw new InvalidNetworkInputError(`dns_search/dns_opt value ${JSON.stringify(w)} is not a domain or option word`);
  // The C library reads at most 3 nameservers.
  const lines = [...new Set(input.nameservers)].slice(0, 3).map((ns) => `nameserver ${ns}`);
  if (input.search && input.search.length > 0) lines.push(`search ${input.search.join(' ')}`);
  const opts = [...(input.options ?? [])];
  if (!opts.some((o) => o.startsWith('ndots:'))) opts.unshift('ndots:0');
  lines.push(`options ${opts.join(' ')}`);
  return lines.join('\n') + '\n';
}

export interface HostsInput {
  hostname: string;
  /** The container's own addresses (one per network), bare or with prefix length. */
  addresses: readonly string[];
  /** The service's `extra_hosts`: name -> addresses. */
  extraHosts?: Readonly<Record<string, readonly string[]>>;
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/** /etc/hosts of a container: loopback names, its own addresses under its hostname, extra_hosts. */
export function containerHosts(input: HostsInput): string {
  if (!HOSTNAME.test(input.hostname) || input.hostname.length > 253)
    throw new InvalidNetworkInputError(`hostname ${JSON.stringify(input.hostname)} is not a valid host name`);
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const a of input.addresses) {
    const ip = a.split('/')[0]!;
    if (isIP(ip) === 0) throw new InvalidNetworkInputError(`container address ${JSON.stringify(a)} is not an IP address`);
    lines.push(`${ip}\t${input.hostname}`);
  }
  for (const [name, addrs] of Object.entries(input.extraHosts ?? {})) {
    if (!HOSTNAME.test(name)) throw new InvalidNetworkInputError(`extra_hosts name ${JSON.stringify(name)} is not a valid host name`);
    for (const a of addrs) {
      if (isIP(a) === 0) throw new InvalidNetworkInputError(`extra_hosts ${name}: ${JSON.stringify(a)} is not an IP address`);
      lines.push(`${a}\t${name}`);
    }
  }
  return lines.join('\n') + '\n';
}
