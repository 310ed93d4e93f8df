// OverlayHost: the data path of one host. It checks input, records each kernel object in the
// ledger before the batch that creates it, runs one `ip -batch` / `bridge -batch` / `nft -f`
// per change, and removes what it recorded when a step fails. Calls are serialized.
import { access } from 'node:fs/promises';
import type { Logger } from 'pino';
import { containsPrefix, parseIPv4 } from './addr.js';
import { bridgeCreateLines, bridgeRemoveLines, bridgeSysctls, vethLines } from './bridge.js';
import type { DriverContext, KernelLines, OverlayDriver, PeerState } from './driver.js';
import { InvalidNetworkInputError, KernelCommandError, KernelFeatureError, UnknownObjectError } from './errors.js';
import { renderFirewall, type FirewallNetwork } from './firewall.js';
import { Kernel, type CommandRunner } from './kernel.js';
import { checkPeersDisjoint } from './peers.js';
import { Ledger, attachmentKey, type LedgerNetwork } from './ledger.js';
import { bridgeName, ROUTE_PROTO, vethHostName, vethPeerName } from './names.js';
import { routedDriver } from './routed/driver.js';
import { detectUnderlay, type Underlay } from './underlay.js';
import { checkAttachment, checkNetwork, checkPeer, type CheckedNetwork } from './validate.js';
import { vxlanDriver } from './vxlan/driver.js';
import { greDataPathOf, greDriver, type GreDataPath } from './gre/driver.js';
import { chooseGreDataPath, type GreChoice } from './gre/detect.js';
import { GreDaemon, type GreState } from './gre/daemon.js';
import type { AttachmentInfo, AttachmentSpec, DriverName, NetworkInfo, NetworkSpec, PeerSpec } from './types.js';
import { bestEffort, hasCode, settled } from '../proto/undo.js';

export const DEFAULT_DATA_PATH_PORT = 4789;

export interface OverlayHostOptions {
  /** This host's address on the underlay (the one its peers reach it at). */
  underlayAddress: string;
  /** Where the ledger lives (e.g. SHOAL_RUN/overlay-net). */
  stateDir: string;
  /** UDP port of VXLAN, Swarm's --data-path-port. */
  dataPathPort?: number;
  /** The host's network namespace, when the caller does not already run in it (lab, tests). */
  hostNetns?: string;
  /** GRE data path: the kernel's gretap or shoal-gre; 'auto' (default) picks the kernel's where it exists. */
  greDataPath?: GreChoice;
  /** Replaces process spawning (tests inject a kernel without a feature through it). */
  runner?: CommandRunner;
  logger?: Logger;
}

export class OverlayHost {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly byName: Record<DriverName, OverlayDriver>;
  /** The userspace GRE process's supervisor (hosts without kernel gretap). */
  readonly greDaemon: GreDaemon | undefined;

  private constructor(
    readonly kernel: Kernel,
    readonly underlay: Underlay,
    readonly ledger: Ledger,
    private readonly ctx: DriverContext,
    private readonly supported: readonly DriverName[],
    private readonly log: Logger | undefined,
    /** Which GRE data path this host's gre networks use. */
    readonly greDataPath: GreDataPath,
    stateDir: string,
    hostNetns: string | undefined,
  ) {
    this.byName = { vxlan: vxlanDriver, routed: routedDriver, gre: greDriver(greDataPath) };
    if (greDataPath === 'userspace')
      this.greDaemon = new GreDaemon({ stateDir, hostNetns, underlayAddress: underlay.address, logger: log });
  }

  static async open(opts: OverlayHostOptions): Promise<OverlayHost> {
    const port = opts.dataPathPort ?? DEFAULT_DATA_PATH_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new InvalidNetworkInputError(`data path port ${port} is not a UDP port (1-65535)`);
    if (parseIPv4(opts.underlayAddress) === null)
      throw new InvalidNetworkInputError(`underlay address ${JSON.stringify(opts.underlayAddress)} is not IPv4`);
    const kernel = new Kernel(opts.hostNetns, opts.runner);
    const underlay = await detectUnderlay(kernel, opts.underlayAddress);
    const ledger = new Ledger(opts.stateDir);
    await ledger.load();
    // A host routes between its bridges, its tunnels and the underlay (Docker sets the same).
    await kernel.sysctl({ 'net.ipv4.ip_forward': 1 });
    const drivers: DriverName[] = ['routed'];
    if (await kernel.canMakeLink('vxlan', ['id', '1', 'dstport', String(port)])) drivers.unshift('vxlan');
    // gre always: the kernel's gretap where it exists, else the userspace data path.
    const gre = await chooseGreDataPath(kernel, opts.greDataPath);
    drivers.push('gre');
    return new OverlayHost(kernel, underlay, ledger, { underlay, dataPathPort: port }, drivers, opts.logger, gre, opts.stateDir, opts.hostNetns);
  }

  /** Drivers this host's kernel supports (detected at open); the agent reports them. */
  get drivers(): readonly DriverName[] {
    return this.supported;
  }

  /** Runs one operation at a time: the ledger and the nftables table are rewritten whole. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = settled(next); // the caller gets next's error; the queue goes on
    return next;
  }

  networks(): NetworkInfo[] {
    return Object.values(this.ledger.data.networks)
      .filter((n) => n.committed)
      .map((n) => this.info(n));
  }

  private info(n: LedgerNetwork): NetworkInfo {
    const driver = n.spec.driver as DriverName;
    const info: NetworkInfo = { id: n.spec.id, driver, bridge: n.links[0]!, tunnel: n.links[1], mtu: n.mtu };
    if (driver === 'gre') info.dataPath = greDataPathOf(n.links[1]);
    return info;
  }

  /** Creates a network's bridge (and tunnel) on this host; a no-op when it exists unchanged. */
  ensureNetwork(spec: NetworkSpec): Promise<NetworkInfo> {
    return this.serial(() => this.ensureNetworkNow(spec));
  }

  private async ensureNetworkNow(spec: NetworkSpec): Promise<NetworkInfo> {
    const net = checkNetwork(spec);
    const driver = this.byName[net.driver];
    if (!this.supported.includes(net.driver))
      throw new KernelFeatureError(
        `network ${spec.name}: this kernel cannot make ${net.driver.toUpperCase()} devices; ` +
          `load the ${net.driver} module (modprobe ${net.driver}) or use the routed driver`,
      );
    const old = this.ledger.data.networks[spec.id];
    if (old?.committed) {
      if (JSON.stringify(old.spec) === JSON.stringify(spec)) return this.info(old);
      throw new InvalidNetworkInputError(
        `network ${spec.name} is already set up on this host with other settings; remove it first`,
      );
    }
    if (old) await this.removeNetworkNow(spec.id); // a half-made one from a crash
    for (const other of Object.values(this.ledger.data.networks)) {
      const o = checkNetwork(other.spec);
      if (containsPrefix(o.subnet, net.subnet) || containsPrefix(net.subnet, o.subnet))
        throw new InvalidNetworkInputError(`network ${spec.name}: subnet ${net.cidr} overlaps network ${other.spec.name} (${o.cidr})`);
    }
    const mtu = driver.mtu(net, this.underlay);
    const bridge = bridgeName(spec.id);
    const links = [bridge, ...driver.links(net)];
    this.ledger.data.networks[spec.id] = { spec, links, mtu, committed: false };
    await this.ledger.save();
    const lines = [...bridgeCreateLines(net, bridge, mtu), ...driver.createLines(net, this.ctx, mtu)];
    try {
      await this.kernel.ip(lines).catch((err: unknown) => {
        throw kernelFeature(err, lines, net);
      });
      await this.kernel.sysctl(bridgeSysctls(bridge));
      await this.applyFirewall();
      await this.syncUserspace();
    } catch (err) {
      await bestEffort(this.removeNetworkNow(spec.id), [], { what: `remove network ${spec.id} after a failed create`, log: this.log, ids: { network: spec.id } });
      throw err;
    }
    this.ledger.data.networks[spec.id]!.committed = true;
    await this.ledger.save();
    this.log?.info({ network: spec.id, driver: net.driver, mtu }, 'network ready');
    return this.info(this.ledger.data.networks[spec.id]!);
  }

  /** Removes a network with its attachments and its peers' routes; idempotent. */
  removeNetwork(id: string): Promise<void> {
    return this.serial(() => this.removeNetworkNow(id));
  }

  private async removeNetworkNow(id: string): Promise<void> {
    const rec = this.ledger.data.networks[id];
    if (!rec) return;
    const net = checkNetwork(rec.spec);
    const lines: string[] = [];
    for (const [key, att] of Object.entries(this.ledger.data.attachments)) {
      if (att.networkId !== id) continue;
      lines.push(`link del ${att.hostLink}`);
      delete this.ledger.data.attachments[key];
    }
    // Routes of routed peers sit on the underlay, not on a link that goes with the network.
    for (const peer of Object.values(this.ledger.data.peers[id] ?? {}))
      lines.push(...this.byName[net.driver].peerDelta(net, this.ctx, peer, undefined).remove.ip);
    lines.push(...bridgeRemoveLines(net, rec.links));
    await this.kernel.removeIp(lines);
    delete this.ledger.data.networks[id];
    delete this.ledger.data.peers[id];
    await this.applyFirewall();
    await this.ledger.save();
    if (net.driver === 'gre') await this.syncUserspace();
  }

  /** Joins a container's network namespace to a network: veth, address, MTU, routes. */
  attach(networkId: string, spec: AttachmentSpec): Promise<AttachmentInfo> {
    return this.serial(() => this.attachNow(networkId, spec));
  }

  private async attachNow(networkId: string, spec: AttachmentSpec): Promise<AttachmentInfo> {
    const rec = this.committedNetwork(networkId);
    const net = checkNetwork(rec.spec);
    const a = checkAttachment(net, spec);
    const key = attachmentKey(networkId, spec.taskId);
    const hostLink = vethHostName(networkId, spec.taskId);
    const info: AttachmentInfo = { taskId: spec.taskId, networkId, hostLink, ifName: a.ifName, address: spec.address, mtu: rec.mtu };
    const old = this.ledger.data.attachments[key];
    if (old?.committed && JSON.stringify(old.spec) === JSON.stringify(spec)) return info;
    if (old) await this.detachNow(networkId, spec.taskId);
    for (const other of Object.values(this.ledger.data.attachments))
      if (other.networkId === networkId && other.spec.address.split('/')[0] === a.ip)
        throw new InvalidNetworkInputError(`task ${spec.taskId}: address ${a.ip} is already used by task ${other.spec.taskId} on network ${rec.spec.name}`);
    try {
      await access(spec.netnsPath);
    } catch (err) {
      if (!hasCode(err, ['ENOENT'])) throw err;
      throw new InvalidNetworkInputError(`task ${spec.taskId}: network namespace ${spec.netnsPath} does not exist`);
    }
    const plan = vethLines(net, {
      bridge: rec.links[0]!,
      hostLink,
      peerLink: vethPeerName(networkId, spec.taskId),
      taskId: spec.taskId,
      netnsPath: spec.netnsPath,
      ip: a.ip,
      len: a.len,
      mac: a.mac,
      ifName: a.ifName,
      mtu: rec.mtu,
      defaultRoute: spec.defaultRoute ?? true,
    });
    this.ledger.data.attachments[key] = { networkId, spec, hostLink, committed: false };
    await this.ledger.save();
    try {
      await this.kernel.ip(plan.host);
      await this.kernel.ip(plan.container, spec.netnsPath);
    } catch (err) {
      await bestEffort(this.kernel.removeIp(plan.remove), [], { what: `remove the links of a failed attach on network ${networkId}`, log: this.log, ids: { task: spec.taskId, network: networkId } });
      delete this.ledger.data.attachments[key];
      await this.ledger.save();
      throw err;
    }
    this.ledger.data.attachments[key]!.committed = true;
    await this.ledger.save();
    this.log?.info({ network: networkId, task: spec.taskId, address: spec.address }, 'attached');
    return info;
  }

  /** Removes a task's veth and route; idempotent (the container's namespace may be gone). */
  detach(networkId: string, taskId: string): Promise<void> {
    return this.serial(() => this.detachNow(networkId, taskId));
  }

  private async detachNow(networkId: string, taskId: string): Promise<void> {
    const key = attachmentKey(networkId, taskId);
    const att = this.ledger.data.attachments[key];
    const rec = this.ledger.data.networks[networkId];
    if (!att || !rec) return;
    const ip = att.spec.address.split('/')[0]!;
    await this.kernel.removeIp([`link del ${att.hostLink}`, `route del ${ip}/32 dev ${rec.links[0]} proto ${ROUTE_PROTO}`]);
    delete this.ledger.data.attachments[key];
    await this.ledger.save();
  }

  /**
   * Sets the full list of other hosts on a network. Only the difference from what is
   * programmed reaches the kernel (one batch each for removals and additions).
   */
  setPeers(networkId: string, peers: readonly PeerSpec[]): Promise<void> {
    return this.serial(async () => {
      const rec = this.committedNetwork(networkId);
      const net = checkNetwork(rec.spec);
      const after: Record<string, PeerState> = {};
      for (const p of peers) {
        if (p.underlayAddress === this.underlay.address) continue; // this host itself
        const prefixes = checkPeer(net, p);
        if (after[p.hostId]) throw new InvalidNetworkInputError(`network ${rec.spec.name}: peer ${p.hostId} is listed twice`);
        const state = { hostId: p.hostId, underlayAddress: p.underlayAddress, prefixes };
        this.byName[net.driver].checkPeer(net, state, this.ctx);
        after[p.hostId] = state;
      }
      checkPeersDisjoint(rec.spec.name, Object.values(after));
      await this.applyPeers([{ net, after }]);
    });
  }

  /** Withdraws a host (lost, or left) from every network on this host. */
  removePeerHost(hostId: string): Promise<void> {
    return this.serial(async () => {
      const changes = [];
      for (const [id, peers] of Object.entries(this.ledger.data.peers)) {
        if (!peers[hostId] || !this.ledger.data.networks[id]) continue;
        const after = { ...peers };
        delete after[hostId];
        changes.push({ net: checkNetwork(this.ledger.data.networks[id]!.spec), after });
      }
      await this.applyPeers(changes);
    });
  }

  private async applyPeers(changes: { net: CheckedNetwork; after: Record<string, PeerState> }[]): Promise<void> {
    const remove: KernelLines = { ip: [], bridge: [] };
    const add: KernelLines = { ip: [], bridge: [] };
    const undo: KernelLines = { ip: [], bridge: [] };
    const befores = new Map<string, Record<string, PeerState>>();
    for (const { net, after } of changes) {
      const id = net.spec.id;
      const before = this.ledger.data.peers[id] ?? {};
      befores.set(id, before);
      const recorded: Record<string, PeerState> = { ...before };
      for (const host of new Set([...Object.keys(before), ...Object.keys(after)])) {
        const b = before[host];
        const a = after[host];
        const d = this.byName[net.driver].peerDelta(net, this.ctx, b, a);
        remove.ip.push(...d.remove.ip);
        remove.bridge.push(...d.remove.bridge);
        add.ip.push(...d.add.ip);
        add.bridge.push(...d.add.bridge);
        const back = this.byName[net.driver].peerDelta(net, this.ctx, a, undefined).remove;
        undo.ip.push(...back.ip);
        undo.bridge.push(...back.bridge);
        if (a) recorded[host] = b && b.underlayAddress === a.underlayAddress ? { ...a, prefixes: [...new Set([...b.prefixes, ...a.prefixes])].sort() } : a;
      }
      this.ledger.data.peers[id] = recorded;
    }
    await this.ledger.save(); // the union of old and new: whatever a crash leaves is recorded
    await this.kernel.removeIp(remove.ip);
    await this.kernel.removeIp(remove.bridge, 'bridge');
    try {
      await this.kernel.bridge(add.bridge);
      await this.kernel.ip(add.ip);
    } catch (err) {
      // Nothing half-programmed: the new peers' entries go; the old ones were already withdrawn.
      // removeIp already ignores entries that are gone: what it throws is a real leak
      const ctx = { log: this.log, ids: { networks: changes.map((c) => c.net.spec.id).join(',') } };
      await bestEffort(this.kernel.removeIp(undo.ip), [], { ...ctx, what: 'remove the routes of a failed peer update' });
      await bestEffort(this.kernel.removeIp(undo.bridge, 'bridge'), [], { ...ctx, what: 'remove the fdb entries of a failed peer update' });
      for (const { net } of changes) this.ledger.data.peers[net.spec.id] = {};
      await this.ledger.save();
      await bestEffort(this.syncUserspace(), [], { ...ctx, what: 'resync the userspace data path after a failed peer update' });
      throw err;
    }
    for (const { net, after } of changes) this.ledger.data.peers[net.spec.id] = after;
    await this.ledger.save();
    if (changes.some(({ net }) => net.driver === 'gre')) await this.syncUserspace();
  }

  private committedNetwork(id: string): LedgerNetwork {
    const rec = this.ledger.data.networks[id];
    if (!rec?.committed) throw new UnknownObjectError(`network ${id} is not set up on this host`);
    return rec;
  }

  /**
   * Gives shoal-gre the GRE networks in the ledger (made or being made) and their peers as
   * programmed; starts it for the first network, stops it after the last.
   */
  private async syncUserspace(): Promise<void> {
    if (!this.greDaemon) return;
    const state: GreState = { networks: [], peers: [] };
    for (const n of Object.values(this.ledger.data.networks)) {
      if (n.spec.driver !== 'gre' || greDataPathOf(n.links[1]) !== 'userspace') continue;
      state.networks.push({ key: n.spec.vni, tap: n.links[1]! });
      for (const p of Object.values(this.ledger.data.peers[n.spec.id] ?? {})) state.peers.push({ key: n.spec.vni, address: p.underlayAddress });
    }
    await this.greDaemon.sync(state);
  }

  private async applyFirewall(): Promise<void> {
    const nets: FirewallNetwork[] = Object.values(this.ledger.data.networks).map((n) => {
      const net = checkNetwork(n.spec);
      return { cidr: net.cidr, bridge: n.links[0]!, peerInterface: this.byName[net.driver].peerInterface(net, this.ctx), internal: n.spec.internal };
    });
    await this.kernel.nft(renderFirewall(nets));
  }

  /** @internal for adopt.ts */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(fn);
  }

  /** @internal for adopt.ts */
  ops(): {
    ensure: (s: NetworkSpec) => Promise<NetworkInfo>;
    remove: (id: string) => Promise<void>;
    attach: (n: string, a: AttachmentSpec) => Promise<AttachmentInfo>;
    detach: (n: string, t: string) => Promise<void>;
    firewall: () => Promise<void>;
    userspace: () => Promise<void>;
    ctx: DriverContext;
    driver: (n: DriverName) => OverlayDriver;
  } {
    return {
      ensure: (s) => this.ensureNetworkNow(s),
      remove: (id) => this.removeNetworkNow(id),
      attach: (n, a) => this.attachNow(n, a),
      detach: (n, t) => this.detachNow(n, t),
      firewall: () => this.applyFirewall(),
      userspace: () => this.syncUserspace(),
      ctx: this.ctx,
      driver: (n) => this.byName[n],
    };
  }
}

/** Turns "this kernel has no VXLAN" into its typed error; other failures pass through. */
function kernelFeature(err: unknown, lines: readonly string[], net: CheckedNetwork): unknown {
  if (!(err instanceof KernelCommandError)) return err;
  const m = /Command failed -:(\d+)/.exec(err.stderr);
  const line = m ? lines[Number(m[1]) - 1] ?? '' : '';
  if (/type vxlan/.test(line) && /Unknown device type|not supported|No such device|Protocol not available/i.test(err.stderr))
    return new KernelFeatureError(
      `network ${net.spec.name}: this kernel cannot make VXLAN devices (${err.stderr.trim().split('\n')[0]}); ` +
        `load the vxlan module (modprobe vxlan) or use the routed driver`,
      { cause: err },
    );
  return err;
}
