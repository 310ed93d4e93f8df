// Checks of the allocator's records before anything touches the kernel: a bad record is refused
// whole, with a message naming the field, so nothing is ever half-programmed.
import { broadcastOf, contains, containsPrefix, formatPrefix, normalizeMac, parseIPv4, parsePrefix, type Prefix } from './addr.js';
import { InvalidNetworkInputError, UnknownDriverError } from './errors.js';
import { DRIVER_NAMES, type AttachmentSpec, type DriverName, type NetworkSpec, type PeerSpec } from './types.js';

/** A network whose fields were checked, with its numbers parsed. */
export interface CheckedNetwork {
  spec: NetworkSpec;
  driver: DriverName;
  subnet: Prefix;
  /** Canonical subnet text. */
  cidr: string;
  gateway: string;
}

// Ids end up in link aliases and batch lines: keep them to characters no parser splits on.
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

function bad(what: string): never {
  throw new InvalidNetworkInputError(what);
}

export function checkId(kind: string, id: string): void {
  if (!ID.test(id)) bad(`${kind} id ${JSON.stringify(id)} is not valid: use 1-128 of A-Z a-z 0-9 _ . - (starting with a letter or digit)`);
}

export function checkDriver(net: { name: string; driver: string }): DriverName {
  if ((DRIVER_NAMES as readonly string[]).includes(net.driver)) return net.driver as DriverName;
  throw new UnknownDriverError(
    `network ${net.name}: unknown driver ${JSON.stringify(net.driver)}; use one of ${DRIVER_NAMES.join(', ')}`,
  );
}

export function checkNetwork(spec: NetworkSpec): CheckedNetwork {
  checkId('network', spec.id);
  const driver = checkDriver(spec);
  const n = `network ${spec.name}`;
  const parsed = parsePrefix(spec.subnet, true);
  if (!parsed) bad(`${n}: subnet ${JSON.stringify(spec.subnet)} is not an IPv4 network in CIDR form (e.g. 10.0.1.0/24, no host bits set)`);
  const subnet = parsed.prefix;
  if (subnet.len < 8 || subnet.len > 30) bad(`${n}: subnet ${spec.subnet} must be between /8 and /30`);
  const gw = parseIPv4(spec.gateway);
  if (gw === null) bad(`${n}: gateway ${JSON.stringify(spec.gateway)} is not an IPv4 address`);
  if (!contains(subnet, gw) || gw === subnet.base || gw === broadcastOf(subnet))
    bad(`${n}: gateway ${spec.gateway} is not a usable address of subnet ${spec.subnet}`);
  if ((driver === 'vxlan' || driver === 'gre') && !(Number.isInteger(spec.vni) && spec.vni >= 1 && spec.vni <= 0xffffff))
    bad(`${n}: ${driver === 'gre' ? 'GRE key' : 'VNI'} ${spec.vni} is out of range 1..16777215`);
  return { spec, driver, subnet, cidr: formatPrefix(subnet), gateway: spec.gateway };
}

/** Returns the attachment's address and prefix length, checked against its network. */
export function checkAttachment(net: CheckedNetwork, att: AttachmentSpec): { ip: string; len: number; mac: string; ifName: string } {
  checkId('task', att.taskId);
  const t = `task ${att.taskId} on network ${net.spec.name}`;
  const parsed = parsePrefix(att.address, false);
  if (!parsed) bad(`${t}: address ${JSON.stringify(att.address)} is not IPv4 with a prefix length (e.g. 10.0.1.5/24)`);
  if (parsed.prefix.len !== net.subnet.len) bad(`${t}: address ${att.address} must carry the network's prefix length /${net.subnet.len}`);
  const a = parsed.addr;
  if (!contains(net.subnet, a) || a === net.subnet.base || a === broadcastOf(net.subnet) || parseIPv4(net.gateway) === a)
    bad(`${t}: address ${att.address} is not a usable address of ${net.cidr} (or is its gateway)`);
  const mac = normalizeMac(att.mac);
  if (!mac) bad(`${t}: MAC ${JSON.stringify(att.mac)} is not a unicast MAC address`);
  const ifName = att.ifName ?? 'eth0';
  if (!IFNAME.test(ifName)) bad(`${t}: interface name ${JSON.stringify(ifName)} is not valid (1-15 characters)`);
  if (!att.netnsPath.startsWith('/')) bad(`${t}: netns path ${JSON.stringify(att.netnsPath)} must be absolute`);
  return { ip: att.address.split('/')[0]!, len: parsed.prefix.len, mac, ifName };
}

/** Canonical prefixes of a peer, each inside the network's subnet. */
export function checkPeer(net: CheckedNetwork, peer: PeerSpec): string[] {
  checkId('host', peer.hostId);
  const p = `peer ${peer.hostId} on network ${net.spec.name}`;
  if (parseIPv4(peer.underlayAddress) === null) bad(`${p}: underlay address ${JSON.stringify(peer.underlayAddress)} is not IPv4`);
  const out = new Set<string>();
  for (const text of peer.prefixes) {
    const parsed = parsePrefix(text.includes('/') ? text : `${text}/32`, true);
    if (!parsed) bad(`${p}: ${JSON.stringify(text)} is not an IPv4 block or address`);
    if (!containsPrefix(net.subnet, parsed.prefix)) bad(`${p}: ${text} is outside the network's subnet ${net.cidr}`);
    out.add(formatPrefix(parsed.prefix));
  }
  return [...out].sort();
}
