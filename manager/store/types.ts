// Shared vocabulary of the store: which object kinds it holds, how reads are typed, what a
// watcher receives, and how a Raft log plugs in underneath.
import type { Cluster, Config, Network, Node, Secret, Service, Task } from '../../proto/gen/types.js';

export interface KindMap {
  cluster: Cluster;
  node: Node;
  service: Service;
  task: Task;
  network: Network;
  secret: Secret;
  config: Config;
}

export type ObjectKind = keyof KindMap;
export const OBJECT_KINDS: readonly ObjectKind[] = ['cluster', 'node', 'service', 'task', 'network', 'secret', 'config'];

export type StoreObject = KindMap[ObjectKind];

/**
 * Stored objects are shared between every reader and never mutated after they are applied:
 * reads hand them out as deeply read-only, and a writer makes a changed copy (spread or
 * `cloneObject`) and passes it to update(). That keeps reads free of copying.
 */
export type ReadonlyDeep<T> = T extends Uint8Array | bigint | string | number | boolean | undefined | null
  ? T
  : T extends readonly (infer U)[]
    ? readonly ReadonlyDeep<U>[]
    : T extends object
      ? { readonly [K in keyof T]: ReadonlyDeep<T[K]> }
      : T;

export type ObjectEventType = 'create' | 'update' | 'delete';

/** One object changed by a committed proposal. For 'delete', object is the last stored form. */
export type ObjectEvent = {
  [K in ObjectKind]: {
    readonly type: ObjectEventType;
    readonly kind: K;
    readonly object: ReadonlyDeep<KindMap[K]>;
    /** The form before an update. */
    readonly old?: ReadonlyDeep<KindMap[K]>;
  };
}[ObjectKind];

/** Follows the object events of one applied proposal; version is its Raft index. */
export interface CommitEvent {
  readonly type: 'commit';
  readonly version: bigint;
}

/** The whole store was replaced from a snapshot: re-read everything. */
export interface ResetEvent {
  readonly type: 'reset';
  readonly version: bigint;
}

export type StoreEvent = ObjectEvent | CommitEvent | ResetEvent;

/**
 * How a replicated log sits under the store. propose() resolves once the entry is committed
 * (with its index) or rejects (not leader, no quorum). Whoever drives the log must then call
 * MemoryStore.applyCommitted(data, index) for every committed entry, in order, on every
 * replica, this one included; the store learns the outcome of its own proposals from that.
 */
export interface Proposer {
  propose(data: Uint8Array): Promise<{ index: bigint }>;
}
