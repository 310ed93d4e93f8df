// One node's view of its assignments: the COMPLETE set when its stream opens, then INCREMENTAL
// messages built from committed store changes. Only what the agent acts on counts as a change
// (desired state, spec, networks, endpoint, node), so the agent's own status reports are not
// echoed back. The secrets and configs its tasks need travel in the same messages, before them.
import { AssignmentChange_Action, AssignmentsType, type AssignmentChange, type AssignmentsMessage, type OverlayPeers } from '../../proto/gen/dispatcher.js';
import { Endpoint, NetworkAttachment, Task, TaskSpec, TaskState } from '../../proto/gen/types.js';
import type { ReadonlyDeep, ReadTx } from '../store/index.js';
import { NodeObjects, objectsNeeded, type ObjectKey } from './node-objects.js';
import { NodePeers, type OverlayEndpoints } from './peers.js';

type RO<T> = ReadonlyDeep<T>;

/** A task the node must know about: on it and past the scheduler (pending ones are not yet its). */
export function isAssignedTo(t: RO<Task> | undefined, nodeId: string): t is RO<Task> {
  return !!t && t.nodeId === nodeId && (t.status?.state ?? TaskState.NEW) >= TaskState.ASSIGNED;
}

/** What the agent was last sent of a task (the parts it acts on), and the objects it holds for it. */
interface Sent {
  readonly desiredState: TaskState;
  readonly specVersion: bigint;
  readonly spec: RO<TaskSpec> | undefined;
  readonly networks: RO<NetworkAttachment[]>;
  readonly endpoint: RO<Endpoint> | undefined;
  readonly objects: readonly ObjectKey[];
}

function sameBytes<T>(a: RO<T> | undefined, b: RO<T> | undefined, codec: { encode(m: T): { finish(): Uint8Array } }): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return Buffer.compare(codec.encode(a as T).finish(), codec.encode(b as T).finish()) === 0;
}

function sameNetworks(a: RO<NetworkAttachment[]>, b: RO<NetworkAttachment[]>): boolean {
  if (a === b || (a.length === 0 && b.length === 0)) return true;
  if (a.length !== b.length) return false;
  return a.every((n, i) => sameBytes(n, b[i], NetworkAttachment));
}

/**
 * Did anything the agent acts on change? Cheap first: the store shares one spec object per
 * service version (MemoryStore interns it), so a status-only write compares by reference and
 * encodes nothing; only a differing reference is compared byte by byte (as exact as encoding
 * the whole task, which this used to do for every event).
 */
function unchanged(s: Sent, t: RO<Task>): boolean {
  return (
    s.desiredState === t.desiredState &&
    s.specVersion === t.specVersion &&
    sameBytes(s.spec, t.spec, TaskSpec) &&
    sameNetworks(s.networks, t.networks) &&
    sameBytes(s.endpoint, t.endpoint, Endpoint)
  );
}

const NO_NETWORKS: RO<NetworkAttachment[]> = [];

function sentOf(t: RO<Task>, objects: readonly ObjectKey[]): Sent {
  // Each decoded task has its own empty array: keep one shared instead, 100,000 tasks over.
  const networks = t.networks.length === 0 ? NO_NETWORKS : t.networks;
  return { desiredState: t.desiredState, specVersion: t.specVersion, spec: t.spec, networks, endpoint: t.endpoint, objects };
}

function sameKeys(a: readonly ObjectKey[], b: readonly ObjectKey[]): boolean {
  return a === b || (a.length === b.length && a.every((k, i) => k === b[i]));
}

export class NodeAssignments {
  /** Store version the COMPLETE set was read at: commits up to it are already in the set. */
  private baseVersion = 0n;
  private readonly sent = new Map<string, Sent>();
  private readonly pending = new Map<string, AssignmentChange>();
  private readonly objects: NodeObjects;
  private lastId = '';
  private seq = 0;
  private readonly peers: NodePeers | undefined;
  /** Peer lists changed since the last message (merged per network). */
  private pendingPeers: OverlayPeers | undefined;

  constructor(
    readonly nodeId: string,
    private readonly send: (msg: AssignmentsMessage) => void,
    /** Reads committed state (the store's view), to fetch the secrets and configs tasks need. */
    read: <T>(fn: (tx: ReadTx) => T) => T,
    /** The cluster's overlay endpoints: the node is sent the peers of its networks. */
    endpoints?: OverlayEndpoints,
  ) {
    this.objects = new NodeObjects(read);
    this.peers = endpoints && new NodePeers(nodeId, endpoints);
  }

  /** Some networks' endpoints changed: true when this node's peer lists did. */
  peersChanged(networkIds: Iterable<string>): boolean {
    const d = this.peers?.delta(networkIds);
    if (!d) return false;
    if (!this.pendingPeers) this.pendingPeers = d;
    else {
      const byId = new Map(this.pendingPeers.networks.map((n) => [n.networkId, n]));
      for (const n of d.networks) byId.set(n.networkId, n);
      this.pendingPeers = { version: d.version, full: this.pendingPeers.full, networks: [...byId.values()] };
    }
    return true;
  }

  /** Sends the full set as read by tx at store version `version`: objects first, then tasks. */
  sendComplete(tx: ReadTx, version: bigint): void {
    this.baseVersion = version;
    this.sent.clear();
    this.pending.clear();
    this.objects.reset();
    const tasks: AssignmentChange[] = [];
    for (const t of tx.tasks.find('node', this.nodeId)) {
      if (!isAssignedTo(t, this.nodeId)) continue;
      const keys = objectsNeeded(t);
      this.objects.acquire(keys, tx);
      this.sent.set(t.id, sentOf(t, keys));
      tasks.push(taskChange(AssignmentChange_Action.UPDATE, t as Task));
    }
    const [updates] = this.objects.take();
    this.pendingPeers = this.peers?.full();
    this.emit(AssignmentsType.COMPLETE, [...updates, ...tasks]);
  }

  /**
   * A task event of a commit at `version` that concerns this node (now or before); true when it
   * left a change to send.
   */
  taskChanged(task: RO<Task>, deleted: boolean, version: bigint): boolean {
    if (version <= this.baseVersion) return false;
    const id = task.id;
    const prev = this.sent.get(id);
    if (!deleted && isAssignedTo(task, this.nodeId)) {
      const keys = objectsNeeded(task);
      // Acquire before releasing, so an object kept by the task is not removed and re-sent.
      if (!prev || !sameKeys(prev.objects, keys)) {
        this.objects.acquire(keys);
        if (prev) this.objects.release(prev.objects);
      }
      if (prev && unchanged(prev, task)) {
        if (!sameKeys(prev.objects, keys)) this.sent.set(id, { ...prev, objects: keys });
        return this.objects.hasPending;
      }
      this.sent.set(id, sentOf(task, keys));
      this.pending.set(id, taskChange(AssignmentChange_Action.UPDATE, task as Task));
      return true;
    }
    if (!prev) {
      this.pending.delete(id);
      return false;
    }
    this.sent.delete(id);
    this.objects.release(prev.objects);
    this.pending.set(id, taskChange(AssignmentChange_Action.REMOVE, Task.fromPartial({ id })));
    return true;
  }

  /** Sends the changes gathered since the last message, if any: new objects, tasks, then removed objects. */
  flush(): void {
    if (this.pending.size === 0 && !this.objects.hasPending && !this.pendingPeers) return;
    const [updates, removals] = this.objects.take();
    const changes = [...updates, ...this.pending.values(), ...removals];
    this.pending.clear();
    this.emit(AssignmentsType.INCREMENTAL, changes);
  }

  get assignedCount(): number {
    return this.sent.size;
  }

  /** Secrets and configs the node holds for its tasks. */
  get objectCount(): number {
    return this.objects.size;
  }

  private emit(type: AssignmentsType, changes: AssignmentChange[]): void {
    const id = `${this.nodeId.slice(0, 8)}-${++this.seq}`;
    const peers = this.pendingPeers;
    this.pendingPeers = undefined;
    this.send({ type, appliesTo: type === AssignmentsType.INCREMENTAL ? this.lastId : '', resultsIn: id, changes, peers });
    this.lastId = id;
  }
}

function taskChange(action: AssignmentChange_Action, task: Task): AssignmentChange {
  return { action, task, secret: undefined, config: undefined };
}
