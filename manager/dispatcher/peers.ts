// Overlay peers: which nodes hold which addresses of each network, kept up to date from store
// events (one index for the cluster), and per node stream what it was last sent, so a change
// reaches only the nodes sharing the network and only as the lists that changed.
import type { NetworkPeers, OverlayPeer, OverlayPeers } from '../../proto/gen/dispatcher.js';
import { NodeStatus_State, TaskState, type Node, type Task } from '../../proto/gen/types.js';
import type { ReadonlyDeep, ReadTx } from '../store/index.js';

type RO<T> = ReadonlyDeep<T>;

/** A task holds its addresses on a node from placement until it stops (the allocator frees them then). */
function endpointsOf(t: RO<Task>): { networkId: string; prefix: string }[] {
  const state = t.status?.state ?? TaskState.NEW;
  if (!t.nodeId || state < TaskState.ASSIGNED || state > TaskState.RUNNING) return [];
  const out: { networkId: string; prefix: string }[] = [];
  for (const a of t.networks) {
    const addr = a.addresses[0]?.split('/')[0];
    if (a.networkId && addr) out.push({ networkId: a.networkId, prefix: `${addr}/32` });
  }
  return out;
}

/** Where a node is on the underlay, while it is not down. */
function underlayOf(n: RO<Node>): string | undefined {
  if (n.status?.state === NodeStatus_State.DOWN) return undefined;
  return n.status?.addr || undefined;
}

/** One node's entry on a network, built once per change and shared by every stream that sends it. */
interface Entry {
  /** Changes whenever the node's prefixes or underlay address on this network do. */
  readonly key: string;
  readonly peer: OverlayPeer | undefined;
}

/** Per network, per node, per task: the task's address as a /32. */
export class OverlayEndpoints {
  private readonly byNetwork = new Map<string, Map<string, Map<string, string>>>();
  /** What of the index each task put there (to undo on change). */
  private readonly byTask = new Map<string, { nodeId: string; eps: { networkId: string; prefix: string }[] }>();
  private readonly underlay = new Map<string, string>();
  /** Per network, per node: its entry as peers see it (dropped when stale, rebuilt on demand). */
  private readonly entries = new Map<string, Map<string, Entry>>();
  private seq = 0;

  load(tx: ReadTx): void {
    this.byNetwork.clear();
    this.byTask.clear();
    this.underlay.clear();
    this.entries.clear();
    for (const n of tx.nodes.all()) this.nodeChanged(n, false);
    for (const t of tx.tasks.all()) this.taskChanged(t, false);
  }

  private stale(networkId: string, nodeId: string): void {
    this.entries.get(networkId)?.delete(nodeId);
  }

  /** Returns the networks whose lists may have changed. */
  taskChanged(t: RO<Task>, deleted: boolean): string[] {
    const before = this.byTask.get(t.id);
    const eps = deleted ? [] : endpointsOf(t);
    const sameNode = before?.nodeId === t.nodeId;
    if (before && sameNode && before.eps.length === eps.length && before.eps.every((e, i) => e.networkId === eps[i]!.networkId && e.prefix === eps[i]!.prefix)) return [];
    if (!before && eps.length === 0) return [];
    const touched = new Set<string>();
    for (const e of before?.eps ?? []) {
      touched.add(e.networkId);
      this.stale(e.networkId, before!.nodeId);
      const nodes = this.byNetwork.get(e.networkId);
      const tasks = nodes?.get(before!.nodeId);
      tasks?.delete(t.id);
      if (tasks?.size === 0) nodes!.delete(before!.nodeId);
      if (nodes?.size === 0) {
        this.byNetwork.delete(e.networkId);
        this.entries.delete(e.networkId);
      }
    }
    for (const e of eps) {
      touched.add(e.networkId);
      this.stale(e.networkId, t.nodeId);
      let nodes = this.byNetwork.get(e.networkId);
      if (!nodes) this.byNetwork.set(e.networkId, (nodes = new Map()));
      let tasks = nodes.get(t.nodeId);
      if (!tasks) nodes.set(t.nodeId, (tasks = new Map()));
      tasks.set(t.id, e.prefix);
    }
    if (eps.length > 0) this.byTask.set(t.id, { nodeId: t.nodeId, eps });
    else this.byTask.delete(t.id);
    return [...touched];
  }

  /** Returns the networks the node has tasks on when its underlay presence changed. */
  nodeChanged(n: RO<Node>, deleted: boolean): string[] {
    const addr = deleted ? undefined : underlayOf(n);
    if (this.underlay.get(n.id) === addr) return [];
    if (addr) this.underlay.set(n.id, addr);
    else this.underlay.delete(n.id);
    const nets = [...this.byNetwork].filter(([, nodes]) => nodes.has(n.id)).map(([id]) => id);
    for (const id of nets) this.stale(id, n.id);
    return nets;
  }

  /** Networks the node has tasks on. */
  networksOf(nodeId: string): string[] {
    return [...this.byNetwork].filter(([, nodes]) => nodes.has(nodeId)).map(([id]) => id);
  }

  private entry(networkId: string, nodeId: string, tasks: Map<string, string>): Entry {
    let byNode = this.entries.get(networkId);
    if (!byNode) this.entries.set(networkId, (byNode = new Map()));
    let e = byNode.get(nodeId);
    if (!e) {
      const addr = this.underlay.get(nodeId);
      e = { key: `${nodeId}:${++this.seq}`, peer: addr ? { nodeId, underlayAddress: addr, prefixes: [...tasks.values()].sort() } : undefined };
      byNode.set(nodeId, e);
    }
    return e;
  }

  /**
   * The other up nodes with tasks on the network, sorted, and a short key that changes whenever
   * the list does (compared instead of the list: a network's list can be long); empty when the
   * node has no task there.
   */
  peersFor(nodeId: string, networkId: string): { key: string; peers: OverlayPeer[] } {
    const nodes = this.byNetwork.get(networkId);
    if (!nodes?.has(nodeId)) return { key: '', peers: [] };
    const keys: string[] = [];
    const out: OverlayPeer[] = [];
    for (const [other, tasks] of nodes) {
      if (other === nodeId) continue;
      const e = this.entry(networkId, other, tasks);
      if (!e.peer) continue;
      keys.push(e.key);
      out.push(e.peer);
    }
    return { key: keys.sort().join(','), peers: out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1)) };
  }
}

/** What one node's stream was last sent, per network. */
export class NodePeers {
  private readonly sent = new Map<string, string>();
  private version = 0n;

  constructor(
    readonly nodeId: string,
    private readonly index: OverlayEndpoints,
  ) {}

  /** Every network of the node (a new stream, or the store's watch was reset). */
  full(): OverlayPeers {
    this.sent.clear();
    const networks: NetworkPeers[] = [];
    for (const id of this.index.networksOf(this.nodeId).sort()) {
      const { key, peers } = this.index.peersFor(this.nodeId, id);
      this.sent.set(id, key);
      networks.push({ networkId: id, peers });
    }
    return { version: ++this.version, full: true, networks };
  }

  /** The lists among `networkIds` that differ from what was sent; undefined when none. */
  delta(networkIds: Iterable<string>): OverlayPeers | undefined {
    const networks: NetworkPeers[] = [];
    for (const id of networkIds) {
      const { key, peers } = this.index.peersFor(this.nodeId, id);
      if ((this.sent.get(id) ?? '') === key) continue;
      if (peers.length === 0) this.sent.delete(id);
      else this.sent.set(id, key);
      networks.push({ networkId: id, peers });
    }
    return networks.length > 0 ? { version: ++this.version, full: false, networks } : undefined;
  }
}
