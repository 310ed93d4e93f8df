// The leader's allocator: gives each network a subnet, gateway and VNI, each service a virtual
// IP per network, and each new task an address and MAC on every network it names, before the
// scheduler may place it. All of it is written to the store; the in-memory pools are rebuilt
// from the store by every new leader, so nothing is handed out twice across a leader change.
import { EndpointSpec_ResolutionMode, type Network, type Service, type Task } from '../../proto/gen/types.js';
import type { Clock } from '../clock.js';
import { WatchingComponent, type ComponentOptions } from '../orchestrator/component.js';
import type { MemoryStore, ObjectEvent, ReadonlyDeep, ReadTx, WriteTx } from '../store/index.js';
import { attachmentTargets, awaitsAllocation, releasesAddresses } from './attachments.js';
import { procHostRoutes, type HostRoutes } from './host-routes.js';
import { allocateNetwork, attachmentsFor, resolveTarget, vipsFor, type NetworkProblem } from './passes.js';
import { NetworkTable, isAllocated, type Holding } from './network-table.js';
import { defaultPoolOf, type DefaultPool } from './subnet-pool.js';

type RO<T> = ReadonlyDeep<T>;

export interface AllocatorOptions extends ComponentOptions {
  /** Objects one transaction may write (default 500). */
  changesPerTx?: number;
  /** The manager host's routes, kept clear of default-pool subnets (default: /proc/net/route). */
  hostRoutes?: HostRoutes;
}

const vipOwner = (serviceId: string): string => `vip:${serviceId}`;

export class Allocator extends WatchingComponent {
  private readonly table = new NetworkTable();
  private pool: DefaultPool = defaultPoolOf(undefined);
  private readonly dirtyNets = new Set<string>();
  private readonly dirtyServices = new Set<string>();
  private readonly dirtyTasks = new Set<string>();
  /** Tasks and services waiting for a network to get a subnet, or for a free address. */
  private readonly starvedTasks = new Set<string>();
  private readonly starvedServices = new Set<string>();
  /** Networks marked for deletion: deleted once nothing holds an address on them. */
  private readonly deleting = new Set<string>();
  /** Why a network has no subnet yet (shown on its tasks). */
  private readonly netProblems = new Map<string, string>();
  private readonly changesPerTx: number;
  private readonly hostRoutes: HostRoutes;

  constructor(store: MemoryStore, clock: Clock, opts: AllocatorOptions = {}) {
    super(store, clock, 'allocator', opts);
    this.changesPerTx = Math.max(1, opts.changesPerTx ?? 500);
    this.hostRoutes = opts.hostRoutes ?? procHostRoutes;
  }

  load(tx: ReadTx): void {
    this.table.clear();
    for (const s of [this.dirtyNets, this.dirtyServices, this.dirtyTasks, this.starvedTasks, this.starvedServices, this.deleting]) s.clear();
    this.netProblems.clear();
    this.pool = this.readPool(tx.clusters.all()[0]);
    for (const n of tx.networks.all()) this.noteNetwork(n);
    for (const s of tx.services.all()) {
      for (const v of s.endpoint?.virtualIps ?? []) this.table.claim(vipOwner(s.id), v.networkId, v.addr);
      this.dirtyServices.add(s.id);
    }
    for (const t of tx.tasks.all()) this.noteTask(t, !!t.nodeId && !tx.nodes.get(t.nodeId));
    for (const c of this.table.conflicts) this.log.error({ conflict: c }, 'an address is held twice in the store');
  }

  private readPool(cluster: Parameters<typeof defaultPoolOf>[0]): DefaultPool {
    try {
      return defaultPoolOf(cluster);
    } catch (err) {
      this.log.error({ err }, 'the cluster default address pool is unreadable; using 10.0.0.0/8 in /24s');
      return defaultPoolOf(undefined);
    }
  }

  private noteNetwork(n: RO<Network>): void {
    const wasReady = !!this.table.get(n.id)?.pool;
    this.table.register(n);
    if (n.pendingDelete) this.deleting.add(n.id);
    if (!isAllocated(n) || n.pendingDelete) this.dirtyNets.add(n.id);
    if (!wasReady && this.table.get(n.id)?.pool) this.retryStarved();
  }

  private noteTask(t: RO<Task>, nodeGone: boolean): void {
    if (releasesAddresses(t, nodeGone)) {
      this.starvedTasks.delete(t.id);
      if (this.table.release(t.id) > 0) this.retryStarved();
      return;
    }
    for (const a of t.networks) for (const addr of a.addresses) this.table.claim(t.id, a.networkId, addr);
    if (awaitsAllocation(t)) this.dirtyTasks.add(t.id);
  }

  /** Something was freed or became ready: whoever waited tries again. */
  private retryStarved(): void {
    for (const id of this.starvedTasks) this.dirtyTasks.add(id);
    for (const id of this.starvedServices) this.dirtyServices.add(id);
    for (const id of this.deleting) this.dirtyNets.add(id);
  }

  event(e: ObjectEvent): void {
    switch (e.kind) {
      case 'cluster':
        if (e.type !== 'delete') this.pool = this.readPool(e.object);
        return;
      case 'network':
        if (e.type === 'delete') {
          this.table.unregister(e.object.id);
          this.deleting.delete(e.object.id);
          this.netProblems.delete(e.object.id);
          // Its subnet and VNI are free again: networks that found none try again.
          for (const id of this.netProblems.keys()) this.dirtyNets.add(id);
        } else this.noteNetwork(e.object);
        return;
      case 'service':
        if (e.type === 'delete') {
          this.dirtyServices.delete(e.object.id);
          this.starvedServices.delete(e.object.id);
          if (this.table.release(vipOwner(e.object.id)) > 0) this.retryStarved();
        } else {
          for (const v of e.object.endpoint?.virtualIps ?? []) this.table.claim(vipOwner(e.object.id), v.networkId, v.addr);
          this.dirtyServices.add(e.object.id);
        }
        return;
      case 'task':
        if (e.type === 'delete') {
          this.dirtyTasks.delete(e.object.id);
          this.starvedTasks.delete(e.object.id);
          if (this.table.release(e.object.id) > 0) this.retryStarved();
        } else {
          const t = e.object;
          this.noteTask(t, !!t.nodeId && this.store.view((tx) => !tx.nodes.get(t.nodeId)));
        }
        return;
      case 'node':
        // A node removed for good: tasks told to stop there will never report it; free them.
        if (e.type === 'delete') this.store.view((tx) => tx.tasks.find('node', e.object.id).forEach((t) => this.noteTask(t, true)));
        return;
      default:
    }
  }

  dirty(): boolean {
    return this.dirtyNets.size + this.dirtyServices.size + this.dirtyTasks.size > 0;
  }

  async flush(): Promise<void> {
    // Networks first (tasks need their subnet), then VIPs (low addresses), then tasks.
    await this.inBatches(this.dirtyNets, (tx, id, undo) => this.networkPass(tx, id, undo));
    await this.inBatches(this.dirtyServices, (tx, id, undo, after) => this.servicePass(tx, id, undo, after));
    await this.inBatches(this.dirtyTasks, (tx, id, undo) => this.taskPass(tx, id, undo), (a, b) => this.taskOrder(a, b));
  }

  /**
   * Runs pass over the dirty ids in transactions of at most changesPerTx writes. What a failed
   * transaction allocated in memory is undone and its ids are marked dirty again.
   */
  private async inBatches(
    dirty: Set<string>,
    pass: (tx: WriteTx, id: string, undo: (() => void)[], after: (() => void)[]) => boolean,
    order?: (a: string, b: string) => number,
  ): Promise<void> {
    const ids = [...dirty];
    dirty.clear();
    if (order) ids.sort(order);
    for (let i = 0; i < ids.length; ) {
      const undo: (() => void)[] = [];
      const after: (() => void)[] = [];
      let next = i;
      try {
        await this.store.update((tx) => {
          let writes = 0;
          for (next = i; next < ids.length && writes < this.changesPerTx; next++) if (pass(tx, ids[next]!, undo, after)) writes++;
        });
      } catch (err) {
        for (const u of undo.reverse()) u();
        for (const id of ids.slice(i)) dirty.add(id);
        throw err;
      }
      for (const a of after) a();
      if (after.length > 0) this.retryStarved();
      i = next;
    }
  }

  private taskOrder(a: string, b: string): number {
    return this.store.view((tx) => {
      const ta = tx.tasks.get(a);
      const tb = tx.tasks.get(b);
      const ka = `${ta?.serviceId ?? ''}\u0000${String(ta?.slot ?? 0).padStart(10, '0')}`;
      const kb = `${tb?.serviceId ?? ''}\u0000${String(tb?.slot ?? 0).padStart(10, '0')}`;
      return ka < kb ? -1 : ka > kb ? 1 : a < b ? -1 : a > b ? 1 : 0;
    });
  }

  /** Allocates a network or deletes a network marked for deletion. True if it wrote. */
  private networkPass(tx: WriteTx, id: string, undo: (() => void)[]): boolean {
    const net = tx.networks.get(id);
    if (!net) return false;
    if (net.pendingDelete) {
      const e = this.table.get(id);
      const inUse = (e?.pool?.inUse ?? 0) > 0 || tx.services.all().some((s) => attachmentTargets({ spec: s.spec?.task } as RO<Task>, s).some((a) => resolveTarget(tx, a.target)?.id === id));
      if (inUse) return false;
      tx.networks.delete(id);
      this.log.info({ network: net.spec?.annotations?.name, id }, 'network marked for deletion has no tasks left; deleted');
      return true;
    }
    if (isAllocated(net)) return false;
    const r = allocateNetwork(tx, net, this.table, this.pool, this.hostRoutes());
    if ('problem' in r) {
      const p: NetworkProblem = r;
      if (this.netProblems.get(id) !== p.problem) this.log.warn({ network: net.spec?.annotations?.name, problem: p.problem }, 'network cannot be allocated');
      this.netProblems.set(id, p.problem);
      return false;
    }
    this.netProblems.delete(id);
    const entry = this.table.get(id)!;
    this.table.install(entry, r.addressing, r.network.vni);
    undo.push(() => this.table.uninstall(entry));
    tx.networks.update(r.network);
    this.retryStarved();
    return true;
  }

  /** Gives a VIP-mode service one virtual IP per network it is on; frees those it left. */
  private servicePass(tx: WriteTx, id: string, undo: (() => void)[], after: (() => void)[]): boolean {
    const s = tx.services.get(id);
    if (!s) return false;
    const owner = vipOwner(id);
    const vipMode = (s.spec?.endpoint?.mode ?? EndpointSpec_ResolutionMode.VIP) === EndpointSpec_ResolutionMode.VIP;
    const r = vipsFor(tx, s, vipMode, this.table, owner, undo, after);
    if (r.waiting) this.starvedServices.add(id);
    else this.starvedServices.delete(id);
    if (!r.changed) return false;
    const endpoint = s.endpoint ?? { spec: s.spec?.endpoint, ports: [], virtualIps: [] };
    tx.services.update({ ...s, endpoint: { ...endpoint, spec: endpoint.spec ?? s.spec?.endpoint, virtualIps: r.virtualIps } } as RO<Service>);
    return true;
  }

  /** Attaches one task to all its networks, or leaves it pending saying why. */
  private taskPass(tx: WriteTx, id: string, undo: (() => void)[]): boolean {
    const t = tx.tasks.get(id);
    if (!t || !awaitsAllocation(t)) {
      this.starvedTasks.delete(id);
      return false;
    }
    const r = attachmentsFor(tx, t, tx.services.get(t.serviceId), this.table, this.netProblems);
    const now = BigInt(this.clock.now());
    if ('problem' in r) {
      this.starvedTasks.add(id);
      if (t.status?.err === r.problem) return false;
      this.log.info({ task: id, service: t.serviceName, problem: r.problem }, 'task waits for network allocation');
      tx.tasks.update({ ...t, status: { ...t.status!, message: r.problem, err: r.problem, timestampMs: now } });
      return true;
    }
    this.starvedTasks.delete(id);
    for (const h of r.fresh) undo.push(() => this.table.releaseOne(id, h as Holding));
    if (r.fresh.length === 0 && r.networks.length === t.networks.length) return false;
    const status = t.status?.err ? { ...t.status, message: 'network attachments allocated', err: '', timestampMs: now } : t.status;
    tx.tasks.update({ ...t, networks: r.networks, status });
    return true;
  }
}
