// Deletes tasks nobody needs any more: those of removed services once they have stopped (or
// never reached a node), and per slot the oldest finished ones beyond the cluster's history limit.
import { TaskState, type Task } from '../../proto/gen/types.js';
import type { Clock } from '../clock.js';
import { slotKey, type MemoryStore, type ObjectEvent, type ReadonlyDeep, type ReadTx, type WriteTx } from '../store/index.js';
import { WatchingComponent, type ComponentOptions } from './component.js';
import { byAge, DEFAULT_TASK_HISTORY, hasFinished, isJob, isRunnable, ofEarlierRun } from './tasks.js';

type RO<T> = ReadonlyDeep<T>;

/** Deletions per transaction. */
const DELETES_PER_TX = 1000;

/** A task that may be deleted: not meant to run and either stopped or never given to a node. */
function isHistoric(t: RO<Task>, tx: ReadTx): boolean {
  if (isRunnable(t)) return false;
  const state = t.status?.state ?? TaskState.NEW;
  if (hasFinished(t) || state < TaskState.ASSIGNED) return true;
  // Its node is gone: nobody is left to report it stopped.
  return !!t.nodeId && !tx.nodes.get(t.nodeId);
}

export function historyLimit(tx: ReadTx): number {
  const c = tx.clusters.all()[0];
  const limit = c?.spec?.orchestration?.taskHistoryRetentionLimit;
  return limit === undefined ? DEFAULT_TASK_HISTORY : limit;
}

export class TaskReaper extends WatchingComponent {
  /** Slot keys to look at. */
  private readonly dirtySlots = new Set<string>();
  /** Services whose remaining tasks are to go as soon as they stop. */
  private readonly dirtyServices = new Set<string>();

  constructor(store: MemoryStore, clock: Clock, opts: ComponentOptions = {}) {
    super(store, clock, 'orchestrator/taskreaper', opts);
  }

  load(tx: ReadTx): void {
    for (const t of tx.tasks.all()) this.dirtySlots.add(slotKey(t.serviceId, t.slot, t.nodeId));
  }

  event(e: ObjectEvent): void {
    if (e.kind === 'task' && e.type !== 'delete') this.dirtySlots.add(slotKey(e.object.serviceId, e.object.slot, e.object.nodeId));
    else if (e.kind === 'service' && e.type === 'delete') this.dirtyServices.add(e.object.id);
    else if (e.kind === 'cluster' && e.type === 'update') this.store.view((tx) => this.load(tx));
  }

  dirty(): boolean {
    return this.dirtySlots.size > 0 || this.dirtyServices.size > 0;
  }

  async flush(): Promise<void> {
    const slots = [...this.dirtySlots];
    const services = [...this.dirtyServices];
    this.dirtySlots.clear();
    this.dirtyServices.clear();
    const doomed = this.store.view((tx) => {
      const out: string[] = [];
      const limit = historyLimit(tx);
      for (const key of slots) collectSlot(tx, key, limit, out);
      for (const id of services) {
        for (const t of tx.tasks.find('service', id)) if (t.desiredState === TaskState.REMOVE && isHistoric(t, tx)) out.push(t.id);
      }
      return [...new Set(out)];
    });
    for (let i = 0; i < doomed.length; i += DELETES_PER_TX) {
      const batch = doomed.slice(i, i + DELETES_PER_TX);
      try {
        await this.store.update((tx) => removeStillHistoric(tx, batch));
      } catch (err) {
        this.store.view((tx) => this.load(tx));
        throw err;
      }
    }
    if (doomed.length > 0) this.log.debug({ deleted: doomed.length }, 'deleted old tasks');
  }
}

function collectSlot(tx: ReadTx, key: string, limit: number, out: string[]): void {
  const tasks = tx.tasks.find('slot', key);
  // Tasks told to go away entirely are deleted once they stopped, whatever the history limit.
  const keep: RO<Task>[] = [];
  for (const t of tasks) {
    if (t.desiredState === TaskState.REMOVE && isHistoric(t, tx)) out.push(t.id);
    else keep.push(t);
  }
  if (limit < 0 || keep.length <= limit) return;
  // A settled task (desired COMPLETE) is what marks its slot as done: deleting it would free the
  // slot and the orchestrator would run it again. A job's earlier runs no longer mark anything.
  const service = tasks[0] && tx.services.get(tasks[0].serviceId);
  const marksSlot = (t: RO<Task>): boolean => t.desiredState === TaskState.COMPLETE && !(service && isJob(service) && ofEarlierRun(t, service));
  const historic = keep.filter((t) => isHistoric(t, tx) && !marksSlot(t)).sort(byAge);
  let excess = keep.length - limit;
  for (const t of historic) {
    if (excess-- <= 0) break;
    out.push(t.id);
  }
}

// Re-checked inside the write: a task may have changed since the read.
function removeStillHistoric(tx: WriteTx, ids: readonly string[]): void {
  for (const id of ids) {
    const t = tx.tasks.get(id);
    if (t && isHistoric(t, tx)) tx.tasks.delete(id);
  }
}
