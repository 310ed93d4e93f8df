// Assigns PENDING tasks to nodes. It keeps its own picture of every node (capacity and what
// assigned tasks use) from store events, places pending tasks group by group (tasks of one
// service and spec version share one pass), and commits the assignments in batched
// transactions. A task that fits nowhere stays PENDING with the reason in its status.
import { TaskState, type Task } from '../../proto/gen/types.js';
import { networksAllocated } from '../allocator/attachments.js';
import type { Clock } from '../clock.js';
import { WatchingComponent, type ComponentOptions } from '../orchestrator/component.js';
import { ProposalTooLargeError, type MemoryStore, type ObjectEvent, type ReadonlyDeep, type ReadTx, type WriteTx } from '../store/index.js';
import { requirementsOf, type Requirements } from './filters.js';
import { holdsResources, NodeInfo, usageOf } from './node-info.js';
import { placeGroup, placeOnNode, type GroupPlacement } from './placement.js';

type RO<T> = ReadonlyDeep<T>;

export interface SchedulerOptions extends ComponentOptions {
  /** Tasks per committed transaction (default 1000). */
  batchSize?: number;
}

export const ASSIGNED_MESSAGE = 'scheduler assigned task to node';
export const PENDING_MESSAGE = 'pending task scheduling';

/** Waiting for a node, with its network attachments allocated (the allocator goes first). */
export function isPending(t: RO<Task>): boolean {
  return t.status?.state === TaskState.PENDING && t.desiredState <= TaskState.RUNNING && networksAllocated(t);
}

interface Decision {
  readonly task: RO<Task>;
  readonly nodeId?: string;
  readonly reason?: string;
}

export class Scheduler extends WatchingComponent {
  private readonly nodes = new Map<string, NodeInfo>();
  /** Which node each resource-holding task is counted on. */
  private readonly placedOn = new Map<string, string>();
  private readonly pending = new Map<string, RO<Task>>();
  private needsPass = false;
  private batchSize: number;

  constructor(store: MemoryStore, clock: Clock, opts: SchedulerOptions = {}) {
    super(store, clock, 'scheduler', opts);
    this.batchSize = opts.batchSize ?? 1000;
  }

  load(tx: ReadTx): void {
    this.nodes.clear();
    this.placedOn.clear();
    this.pending.clear();
    for (const n of tx.nodes.all()) this.nodes.set(n.id, new NodeInfo(n));
    for (const t of tx.tasks.all()) this.trackTask(t);
    this.needsPass = this.pending.size > 0;
  }

  event(e: ObjectEvent): void {
    if (e.kind === 'node') {
      if (e.type === 'delete') this.nodes.delete(e.object.id);
      else {
        const info = this.nodes.get(e.object.id);
        if (info) info.node = e.object;
        else {
          this.nodes.set(e.object.id, new NodeInfo(e.object));
          // Tasks may name a node before its object exists (e.g. re-registered): count them.
          this.store.view((tx) => {
            for (const t of tx.tasks.find('node', e.object.id)) {
              this.untrack(t.id);
              this.pending.delete(t.id);
              this.trackTask(t);
            }
          });
        }
      }
      if (this.pending.size > 0) this.needsPass = true;
      return;
    }
    if (e.kind !== 'task') return;
    const before = this.placedOn.get(e.object.id);
    this.untrack(e.object.id);
    this.pending.delete(e.object.id);
    if (e.type !== 'delete') this.trackTask(e.object);
    // Only a task that stopped holding resources on a node (or moved) can let a pending one in;
    // a status report of a running task changes nothing for the scheduler.
    const freed = before !== undefined && this.placedOn.get(e.object.id) !== before;
    if (this.pending.has(e.object.id) || (freed && this.pending.size > 0)) this.needsPass = true;
  }

  private trackTask(t: RO<Task>): void {
    if (isPending(t)) this.pending.set(t.id, t);
    if (!holdsResources(t)) return;
    const info = this.nodes.get(t.nodeId);
    if (!info) return;
    info.add(t.id, usageOf(t));
    this.placedOn.set(t.id, t.nodeId);
  }

  /** Forgets where a task was counted. */
  private untrack(taskId: string): void {
    const nodeId = this.placedOn.get(taskId);
    if (nodeId === undefined) return;
    this.placedOn.delete(taskId);
    this.nodes.get(nodeId)?.remove(taskId);
  }

  dirty(): boolean {
    return this.needsPass;
  }

  async flush(): Promise<void> {
    this.needsPass = false;
    const decisions = this.decide();
    if (decisions.length === 0) return;
    const now = BigInt(this.clock.now());
    let placed = 0;
    for (let i = 0; i < decisions.length; ) {
      const batch = decisions.slice(i, i + this.batchSize);
      try {
        const skipped = await this.store.update((tx) => commitBatch(tx, batch, now));
        for (const d of skipped) if (d.nodeId && this.placedOn.get(d.task.id) === d.nodeId) this.untrack(d.task.id);
        placed += batch.filter((d) => d.nodeId).length - skipped.filter((d) => d.nodeId).length;
        i += batch.length;
      } catch (err) {
        // Big task specs: fewer tasks per proposal, for good.
        if (err instanceof ProposalTooLargeError && this.batchSize > 1) {
          this.batchSize = Math.max(1, this.batchSize >> 1);
          this.log.warn({ batchSize: this.batchSize, bytes: err.bytes }, 'proposal too large; fewer tasks per transaction');
          continue;
        }
        // Nothing of this batch or later ones was written: take back what was counted.
        for (const d of decisions.slice(i)) if (d.nodeId) this.untrack(d.task.id);
        this.needsPass = true;
        throw err;
      }
    }
    const unplaced = decisions.length - decisions.filter((d) => d.nodeId).length;
    this.log.debug({ placed, unplaced }, 'scheduling pass');
  }

  /** Places every pending task in memory; NodeInfos count the placements at once. */
  private decide(): Decision[] {
    const groups = new Map<string, RO<Task>[]>();
    const preset: RO<Task>[] = [];
    for (const t of this.pending.values()) {
      if (t.nodeId) {
        preset.push(t);
        continue;
      }
      const key = `${t.serviceId}\u0000${t.specVersion}`;
      const g = groups.get(key);
      if (g) g.push(t);
      else groups.set(key, [t]);
    }
    const out: Decision[] = [];
    const nodes = [...this.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const record = (tasks: readonly RO<Task>[], p: GroupPlacement): void => {
      const byId = new Map(tasks.map((t) => [t.id, t]));
      for (const [taskId, nodeId] of p.assigned) {
        this.placedOn.set(taskId, nodeId);
        out.push({ task: byId.get(taskId)!, nodeId });
      }
      let changed = 0;
      for (const id of p.unplaced) {
        const t = byId.get(id)!;
        if (t.status?.err === p.reason) continue;
        out.push({ task: t, reason: p.reason });
        changed++;
      }
      // One line per group whose reason changed, not one per task.
      if (changed > 0) this.log.info({ serviceId: tasks[0]!.serviceId, tasks: p.unplaced.length, reason: p.reason }, 'tasks stay pending');
    };
    for (const t of preset) record([t], placeOnNode(t.id, requirementsOf(t), this.nodes.get(t.nodeId)));
    for (const tasks of groups.values()) {
      // Slots in order, so that a service's first replicas land first.
      tasks.sort((a, b) => a.slot - b.slot || (a.id < b.id ? -1 : 1));
      const req: Requirements = requirementsOf(tasks[0]!);
      record(
        tasks,
        placeGroup(
          tasks.map((t) => t.id),
          req,
          nodes,
        ),
      );
    }
    return out;
  }
}

/** Writes one batch; returns the decisions it had to skip because the task moved on meanwhile. */
function commitBatch(tx: WriteTx, batch: readonly Decision[], now: bigint): Decision[] {
  const skipped: Decision[] = [];
  for (const d of batch) {
    const cur = tx.tasks.get(d.task.id);
    if (!cur || !isPending(cur) || (cur.meta?.version ?? 0n) !== (d.task.meta?.version ?? 0n)) {
      skipped.push(d);
      continue;
    }
    const status = cur.status!;
    if (d.nodeId) {
      tx.tasks.update({ ...cur, nodeId: d.nodeId, status: { ...status, state: TaskState.ASSIGNED, message: ASSIGNED_MESSAGE, err: '', timestampMs: now } });
    } else {
      tx.tasks.update({ ...cur, status: { ...status, message: PENDING_MESSAGE, err: d.reason ?? '', timestampMs: now } });
    }
  }
  return skipped;
}
