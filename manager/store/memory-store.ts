// The manager's object store: typed tables in memory, changed only by applying committed
// proposals. Without a Proposer it commits at once (component tests); with one, a Raft log sits
// underneath and every replica applies the same entries in the same order.
import { randomBytes } from 'node:crypto';
import { StoreActionKind, StoreActions, StoreSnapshot } from '../../proto/gen/store.js';
import { TaskSpec, type Task } from '../../proto/gen/types.js';
import type { Clock } from '../clock.js';
import { RealClock } from '../clock.js';
import { changesToActions, decodeAction, type DecodedAction } from './actions.js';
import {
  AsyncTransactionError,
  NameConflictError,
  ObjectExistsError,
  ObjectNotFoundError,
  ProposalTooLargeError,
  SequenceConflictError,
  StoreError,
} from './errors.js';
import { Table } from './table.js';
import { readTx, writeTx, type Change, type ReadTx, type WriteTx } from './tx.js';
import type { KindMap, ObjectEvent, ObjectKind, Proposer, ReadonlyDeep, StoreEvent, StoreObject } from './types.js';
import { OBJECT_KINDS } from './types.js';
import { EventHistory } from './history.js';
import { Watcher, type EventFilter, type OverflowPolicy, type WatchLimits } from './watch.js';
import type { WatchFellBehindError } from './errors.js';
import { settled } from '../../proto/undo.js';

export interface MemoryStoreOptions {
  clock?: Clock;
  /** The replicated log; omitted, proposals commit immediately with consecutive indexes. */
  proposer?: Proposer;
  /** Largest encoded proposal (default 1,000,000 bytes: under the Raft node's 1 MiB limit). */
  maxProposalBytes?: number;
  /** Default bound of every watcher's queue (DEFAULT_WATCH_LIMITS). */
  watchLimits?: Partial<WatchLimits>;
  /** Bound of the recent events kept for resuming watches (DEFAULT_HISTORY_LIMITS). */
  historyLimits?: Partial<WatchLimits>;
}

export const DEFAULT_MAX_PROPOSAL_BYTES = 1_000_000;

export interface WatchOptions {
  filter?: EventFilter;
  /** Closes the watcher when aborted. */
  signal?: AbortSignal;
  /** This watcher's bound, instead of the store's default. */
  limits?: Partial<WatchLimits>;
  /** 'close' (default): WatchFellBehindError past the bound; 'reset': one reset event instead. */
  onOverflow?: OverflowPolicy;
  /** Told when the watcher is closed for falling behind. */
  onFellBehind?: (err: WatchFellBehindError) => void;
  /**
   * Resume: first the events of every proposal applied after this version (from the store's
   * history), then live ones. Throws WatchCompactedError if the history no longer reaches back.
   */
  fromVersion?: bigint;
}

type Tables = { [K in ObjectKind]: Table<K> };

interface Waiter {
  resolve(index: bigint): void;
  reject(err: Error): void;
}

export class MemoryStore {
  private readonly tables: Tables = {
    cluster: new Table('cluster'),
    node: new Table('node'),
    service: new Table('service'),
    task: new Table('task'),
    network: new Table('network'),
    secret: new Table('secret'),
    config: new Table('config'),
  };
  private readonly reader: ReadTx = readTx(this.tables);
  private readonly watchers = new Set<Watcher>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly clock: Clock;
  private readonly proposer: Proposer;
  private readonly maxProposalBytes: number;
  private readonly instance = randomBytes(6).toString('hex');
  private seq = 0;
  private lastIndex = 0n;
  private writing = false;
  /** One shared TaskSpec per (service, spec version): tasks of a service carry identical copies. */
  private readonly specs = new Map<string, { bytes: Uint8Array; spec: TaskSpec }>();
  private readonly writeQueue: (() => void)[] = [];
  private readonly history: EventHistory;
  private readonly watchLimits: Partial<WatchLimits>;

  constructor(opts: MemoryStoreOptions = {}) {
    this.clock = opts.clock ?? new RealClock();
    this.maxProposalBytes = opts.maxProposalBytes ?? DEFAULT_MAX_PROPOSAL_BYTES;
    this.history = new EventHistory(opts.historyLimits);
    this.watchLimits = opts.watchLimits ?? {};
    this.proposer = opts.proposer ?? {
      propose: (data) => {
        const index = this.lastIndex + 1n;
        this.applyCommitted(data, index);
        return Promise.resolve({ index });
      },
    };
  }

  /** The index of the last applied proposal (0 for an empty store). */
  get version(): bigint {
    return this.lastIndex;
  }

  /** A consistent read of committed state. fn must not keep or mutate what it reads. */
  view<T>(fn: (tx: ReadTx) => T): T {
    return fn(this.reader);
  }

  /**
   * Runs fn against the committed state plus its own changes; its changes become one proposal,
   * applied all together or not at all. Writers are serialised: fn sees every earlier write.
   * Resolves with fn's result once the proposal is applied; rejects if fn throws (nothing is
   * proposed), if the log refuses it, or if applying it finds a conflict.
   */
  async update<T>(fn: (tx: WriteTx) => T): Promise<T> {
    return (await this.updateVersioned(fn)).result;
  }

  /**
   * update(), also telling the index the proposal was applied at (the new version of every
   * object it wrote); version is the store's current one if fn changed nothing.
   */
  updateVersioned<T>(fn: (tx: WriteTx) => T): Promise<{ result: T; version: bigint }> {
    return new Promise<{ result: T; version: bigint }>((resolve, reject) => {
      const start = (): void => {
        this.writing = true;
        this.runUpdate(fn)
          .then(resolve, reject)
          .finally(() => {
            this.writing = false;
            this.writeQueue.shift()?.();
          });
      };
      if (this.writing) this.writeQueue.push(start);
      else start();
    });
  }

  private async runUpdate<T>(fn: (tx: WriteTx) => T): Promise<{ result: T; version: bigint }> {
    const changes: Change[] = [];
    const result = fn(writeTx(this.tables, changes));
    if (result instanceof Promise) {
      void settled(result); // refused below: its outcome does not matter
      throw new AsyncTransactionError();
    }
    const now = BigInt(this.clock.now());
    const actions = changesToActions(changes, now);
    if (actions.length === 0) return { result, version: this.lastIndex };
    const proposalId = `${this.instance}-${++this.seq}`;
    const data = StoreActions.encode({ proposalId, proposedAtMs: now, actions }).finish();
    if (data.length > this.maxProposalBytes) throw new ProposalTooLargeError(data.length, this.maxProposalBytes, actions.length);
    const outcome = new Promise<bigint>((resolve, reject) => this.waiters.set(proposalId, { resolve, reject }));
    void settled(outcome); // awaited below once proposed; a failed proposal rejects it meanwhile
    try {
      await this.proposer.propose(data);
    } catch (err) {
      this.waiters.delete(proposalId);
      throw err;
    }
    return { result, version: await outcome };
  }

  /** Applies one committed log entry. Called in log order on every replica (see Proposer). */
  applyCommitted(data: Uint8Array, index: bigint): void {
    const msg = StoreActions.decode(data);
    const actions = msg.actions.map(decodeAction);
    const conflict = this.validate(actions);
    const events: ObjectEvent[] = [];
    if (!conflict) {
      for (const a of actions) events.push(this.applyAction(a, index));
    }
    this.lastIndex = index;
    const waiter = this.waiters.get(msg.proposalId);
    if (waiter) {
      this.waiters.delete(msg.proposalId);
      if (conflict) waiter.reject(conflict);
      else waiter.resolve(index);
    }
    if (conflict) return;
    const each = events.length ? Math.ceil(data.length / events.length) : 0;
    this.history.record(index, events, data.length);
    for (const e of events) this.publish(e, each);
    this.publish({ type: 'commit', version: index });
  }

  // Every replica runs the same checks on the same state, so all of them accept or refuse alike.
  private validate(actions: readonly DecodedAction[]): StoreError | undefined {
    const touched = new Set(actions.map((a) => `${a.kind}/${a.object.id}`));
    const names = new Map<string, string>();
    for (const a of actions) {
      const table = this.tables[a.kind] as Table<ObjectKind>;
      const current = table.objects.get(a.object.id);
      if (a.action === StoreActionKind.ACTION_CREATE) {
        if (current) return new ObjectExistsError(a.kind, a.object.id);
      } else {
        if (!current) return new ObjectNotFoundError(a.kind, a.object.id);
        const stored = current.meta?.version ?? 0n;
        if (stored !== a.expectedVersion) return new SequenceConflictError(a.kind, a.object.id, a.expectedVersion, stored);
      }
      const unique = table.uniqueIndex;
      if (!unique || a.action === StoreActionKind.ACTION_REMOVE) continue;
      const key = table.indexKey(unique, a.object as ReadonlyDeep<StoreObject>);
      if (key === undefined) continue;
      const name = (a.object as { spec?: { annotations?: { name: string } } }).spec?.annotations?.name ?? key;
      const nameKey = `${a.kind}/${key}`;
      if (names.has(nameKey)) return new NameConflictError(a.kind, name);
      names.set(nameKey, a.object.id);
      for (const id of table.lookup(unique, key)) {
        if (id !== a.object.id && !touched.has(`${a.kind}/${id}`)) return new NameConflictError(a.kind, name);
      }
    }
    return undefined;
  }

  private applyAction(a: DecodedAction, index: bigint): ObjectEvent {
    const table = this.tables[a.kind] as Table<ObjectKind>;
    const old = table.objects.get(a.object.id);
    if (a.action === StoreActionKind.ACTION_REMOVE) {
      table.delete(a.object.id);
      return { type: 'delete', kind: a.kind, object: old } as ObjectEvent;
    }
    const obj = a.object;
    if (a.kind === 'task') this.internSpec(obj as Task);
    obj.meta = { version: index, createdAtMs: obj.meta?.createdAtMs ?? 0n, updatedAtMs: obj.meta?.updatedAtMs ?? 0n };
    table.put(obj as ReadonlyDeep<StoreObject>);
    if (a.action === StoreActionKind.ACTION_CREATE) return { type: 'create', kind: a.kind, object: obj } as ObjectEvent;
    return { type: 'update', kind: a.kind, object: obj, old } as ObjectEvent;
  }

  // Stored objects are never mutated, so identical specs can be one object: at 100,000 tasks
  // this saves about half of the tasks' memory for the price of one encode per task write.
  private internSpec(t: Task): void {
    if (!t.spec) return;
    const key = `${t.serviceId}\u0000${t.specVersion}`;
    const bytes = TaskSpec.encode(t.spec).finish();
    const known = this.specs.get(key);
    if (known && Buffer.compare(known.bytes, bytes) === 0) {
      t.spec = known.spec;
      return;
    }
    if (this.specs.size >= 10_000) this.specs.clear();
    this.specs.set(key, { bytes, spec: t.spec });
  }

  private publish(e: StoreEvent, bytes = 0): void {
    for (const w of this.watchers) w.push(e, bytes);
  }

  /** The oldest version a watch can resume from (fromVersion), and how many events the history holds. */
  get historyRange(): { oldest: bigint; events: number } {
    return { oldest: this.history.oldest, events: this.history.size };
  }

  /**
   * Events of every proposal applied from now on: one per object changed, then a commit marker.
   * Registering is synchronous, so view() followed by watch() misses nothing.
   */
  watch(opts: WatchOptions = {}): Watcher {
    const replay = opts.fromVersion === undefined ? [] : this.history.since(opts.fromVersion, this.lastIndex);
    const w = new Watcher(
      {
        filter: opts.filter,
        limits: { ...this.watchLimits, ...opts.limits },
        onOverflow: opts.onOverflow,
        onFellBehind: opts.onFellBehind,
        startVersion: opts.fromVersion ?? this.lastIndex,
      },
      (x) => this.watchers.delete(x),
    );
    this.watchers.add(w);
    let events = 0;
    let bytes = 0;
    for (const h of replay) {
      events += h.events.length + 1;
      bytes += h.bytes;
    }
    w.allow(events, bytes);
    for (const h of replay) {
      const each = h.events.length ? Math.ceil(h.bytes / h.events.length) : 0;
      for (const e of h.events) w.push(e, each);
      w.push({ type: 'commit', version: h.version });
    }
    if (opts.signal) {
      if (opts.signal.aborted) w.close();
      else opts.signal.addEventListener('abort', () => w.close(), { once: true });
    }
    return w;
  }

  /** Reads with fn and starts watching at the same instant. */
  viewAndWatch<T>(fn: (tx: ReadTx) => T, opts: WatchOptions = {}): [T, Watcher] {
    return [this.view(fn), this.watch(opts)];
  }

  /** The whole state as bytes, for a Raft snapshot. */
  snapshot(): Uint8Array {
    const all = <K extends ObjectKind>(k: K): KindMap[K][] => [...this.tables[k].objects.values()] as KindMap[K][];
    return StoreSnapshot.encode({
      version: this.lastIndex,
      clusters: all('cluster'),
      nodes: all('node'),
      services: all('service'),
      tasks: all('task'),
      networks: all('network'),
      secrets: all('secret'),
      configs: all('config'),
    }).finish();
  }

  /** Replaces the whole state with a snapshot; watchers get a 'reset' event and should re-read. */
  restore(data: Uint8Array): void {
    const snap = StoreSnapshot.decode(data);
    for (const kind of OBJECT_KINDS) this.tables[kind].clear();
    this.specs.clear();
    const load = <K extends ObjectKind>(k: K, objs: KindMap[K][]): void => {
      for (const o of objs) this.tables[k].put(o as ReadonlyDeep<KindMap[K]>);
    };
    load('cluster', snap.clusters);
    load('node', snap.nodes);
    load('service', snap.services);
    load('task', snap.tasks);
    load('network', snap.networks);
    load('secret', snap.secrets);
    load('config', snap.configs);
    this.lastIndex = snap.version;
    this.history.clear(snap.version);
    this.publish({ type: 'reset', version: snap.version });
  }
}
