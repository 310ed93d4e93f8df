// What a lab is made of, derived from the user's three inputs (name, host count, subnet):
// kernel object names and addresses. Pure functions, so bad input is refused before any
// kernel object exists.
import { LabConfigError } from './errors.js';

export const DEFAULT_LAB = 'lab';
export const DEFAULT_SUBNET = '10.77.0.0/24';
/** More hosts than this makes `up` slow and is no longer "a few hosts on one machine". */
export const MAX_HOSTS = 250;

// Lab names end up in netns names (`shoal-<lab>-h12`) and directory names; keep them short
// and shell-safe. Host names are always h<N>, so `shoal-<lab>-` prefixes never collide.
const LAB_NAME = /^[a-z][a-z0-9-]{0,23}$/;

export function checkLabName(name: string): string {
  if (!LAB_NAME.test(name) || name.endsWith('-')) {
    throw new LabConfigError(
      `--name ${JSON.stringify(name)}: a lab name is 1-24 characters of a-z, 0-9 and '-', ` +
        `starting with a letter (e.g. --name lab2)`,
    );
  }
  return name;
}

export interface Subnet {
  /** The network address as a 32-bit unsigned number. */
  readonly network: number;
  readonly prefix: number;
  readonly cidr: string;
}

// The underlay is private to this machine; refusing public ranges keeps a lab from ever
// shadowing a real address if someone later routes between the lab and the host.
const PRIVATE: readonly [number, number][] = [
  [ipToNumber('10.0.0.0'), 8],
  [ipToNumber('172.16.0.0'), 12],
  [ipToNumber('192.168.0.0'), 16],
];

export function parseSubnet(text: string): Subnet {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  const fix = 'give an IPv4 private network such as --subnet 10.77.0.0/24';
  if (!m) throw new LabConfigError(`--subnet ${JSON.stringify(text)}: not an IPv4 CIDR; ${fix}`);
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) {
    throw new LabConfigError(`--subnet ${text}: octet or prefix length out of range; ${fix}`);
  }
  if (prefix < 8 || prefix > 29) {
    throw new LabConfigError(`--subnet ${text}: prefix length must be between /8 and /29; ${fix}`);
  }
  const addr = octets.reduce((acc, o) => acc * 256 + o, 0);
  const network = maskOf(addr, prefix);
  if (network !== addr) {
    throw new LabConfigError(
      `--subnet ${text}: host bits are set; did you mean --subnet ${numberToIp(network)}/${prefix}?`,
    );
  }
  if (!PRIVATE.some(([net, len]) => len <= prefix && maskOf(addr, len) === net)) {
    throw new LabConfigError(`--subnet ${text}: not inside 10/8, 172.16/12 or 192.168/16; ${fix}`);
  }
  return { network, prefix, cidr: `${numberToIp(network)}/${prefix}` };
}

/** Hosts that fit: all addresses minus network, broadcast and the switch's own. */
export function capacity(subnet: Subnet): number {
  return Math.min(MAX_HOSTS, 2 ** (32 - subnet.prefix) - 3);
}

export function checkHostCount(value: string | number, subnet: Subnet): number {
  const text = String(value).trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  const max = capacity(subnet);
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new LabConfigError(
      `--hosts ${JSON.stringify(String(value))}: give a whole number from 1 to ${max}` +
        (max < MAX_HOSTS ? ` (what fits in ${subnet.cidr})` : ''),
    );
  }
  return n;
}

/** The switch (bridge) takes the first address; host hN takes the (N+1)th. */
export function switchAddress(subnet: Subnet): string {
  return numberToIp(subnet.network + 1);
}

export function hostAddress(subnet: Subnet, index: number): string {
  return numberToIp(subnet.network + 1 + index);
}

export function hostName(index: number): string {
  return `h${index}`;
}

export function netnsName(lab: string, suffix: string): string {
  return `shoal-${lab}-${suffix}`;
}

function maskOf(addr: number, prefix: number): number {
  const size = 2 ** (32 - prefix);
  return addr - (addr % size);
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}
