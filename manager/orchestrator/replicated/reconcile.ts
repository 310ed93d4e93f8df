// One pass over one replicated service inside a write transaction: replace dead tasks and tasks
// on lost or drained nodes in their slot, then grow or shrink to the wanted number of slots.
import { TaskState, type Task } from '../../../proto/gen/types.js';
import { slotKey, type ReadonlyDeep, type WriteTx } from '../../store/index.js';
import type { RestartTracker } from '../restarts.js';
import { byAge, hasFinished, isRunnable, newTask, nodeKeepsTasks, withDesiredState } from '../tasks.js';
import { startFirstPending } from '../update/slots.js';

type RO<T> = ReadonlyDeep<T>;

export interface ReconcileOutcome {
  created: number;
  shutDown: number;
  /** The transaction reached its size cap before the service was done: run another pass. */
  incomplete: boolean;
  /** Times (ms) at which delayed restarts fall due: the caller wakes the orchestrator then. */
  wakeAt: number[];
}


interface SlotState {
  slot: number;
  /** Runnable tasks that are healthy where they are. */
  alive: RO<Task>[];
  /** Finished under a policy that forbids restart: the slot stays as it is. */
  settled: RO<Task>[];
  /** The slot needs a new task (now or after its restart delay). */
  replace: boolean;
}

/** Desired state for a task that ended and will not be restarted: the slot is done, not free. */
export const SETTLED_DESIRED_STATE = TaskState.COMPLETE;

export function reconcileReplicated(
  tx: WriteTx,
  serviceId: string,
  nowMs: number,
  restarts: RestartTracker,
  maxChanges = Infinity,
): ReconcileOutcome {
  const out: ReconcileOutcome = { created: 0, shutDown: 0, incomplete: false, wakeAt: [] };
  // Big changes (scaling by thousands, a node with thousands of tasks lost) span several
  // transactions: each pass stops at the cap and the caller runs another.
  const full = (): boolean => (out.incomplete ||= tx.size >= maxChanges);
  const service = tx.services.get(serviceId);
  const tasks = tx.tasks.find('service', serviceId);
  if (!service || service.spec?.mode?.$case !== 'replicated') {
    // Removed (or no longer replicated): every task goes; the reaper deletes them once stopped.
    for (const t of tasks) {
      if (t.desiredState < TaskState.REMOVE && !service) tx.tasks.update(withDesiredState(t, TaskState.REMOVE));
    }
    restarts.forgetService(serviceId);
    return out;
  }
  const replicas = service.spec.mode.value.replicas;
  const slots = new Map<number, SlotState>();
  const bySlot = new Map<number, RO<Task>[]>();
  for (const t of tasks) {
    const list = bySlot.get(t.slot);
    if (list) list.push(t);
    else bySlot.set(t.slot, [t]);
  }
  for (const [slot, list] of bySlot) {
    if (full()) return out;
    const st: SlotState = { slot, alive: [], settled: [], replace: false };
    list.sort(byAge);
    restarts.recall(slotKey(serviceId, slot), list, nowMs);
    for (const t of list) {
      if (t.desiredState === SETTLED_DESIRED_STATE) st.settled = [t];
      if (!isRunnable(t)) continue;
      if (hasFinished(t)) {
        if (restarts.onDeath(slotKey(serviceId, slot), t, nowMs, list) === 'restart') {
          shutDown(tx, t, TaskState.SHUTDOWN, out);
          st.replace = true;
        } else {
          shutDown(tx, t, SETTLED_DESIRED_STATE, out);
          st.settled = [t];
        }
      } else if (t.nodeId && !nodeKeepsTasks(tx.nodes.get(t.nodeId))) {
        // Moved away without waiting: the task did not fail, its node went.
        shutDown(tx, t, TaskState.SHUTDOWN, out);
        st.replace = true;
      } else {
        st.alive.push(t);
      }
    }
    // Two live tasks in one slot (e.g. after a partition healed): keep the newest.
    // A start-first replacement still starting keeps its old task beside it (the updater ends it).
    while (st.alive.length > 1 && !startFirstPending(st.alive)) shutDown(tx, st.alive.shift()!, TaskState.SHUTDOWN, out);
    if (st.alive.length > 0 || st.settled.length > 0) st.replace = false;
    if (st.alive.length > 0 || st.settled.length > 0 || st.replace || restarts.dueAt(slotKey(serviceId, slot)) !== undefined) slots.set(slot, st);
  }

  // Scale down: the highest slots go first.
  const inUse = [...slots.values()].sort((a, b) => a.slot - b.slot);
  while (inUse.length > replicas) {
    if (full()) return out;
    const st = inUse.pop()!;
    for (const t of [...st.alive, ...st.settled]) {
      if (t.desiredState !== TaskState.SHUTDOWN) shutDown(tx, t, TaskState.SHUTDOWN, out);
    }
    restarts.done(slotKey(serviceId, st.slot));
    slots.delete(st.slot);
  }

  // Refill slots whose task went, once any restart delay has passed.
  for (const st of inUse) {
    if (st.alive.length > 0 || st.settled.length > 0) continue;
    if (full()) return out;
    const key = slotKey(serviceId, st.slot);
    const due = restarts.dueAt(key);
    if (due !== undefined && due > nowMs) {
      out.wakeAt.push(due);
      continue;
    }
    restarts.done(key);
    tx.tasks.create(newTask(service, st.slot, '', nowMs));
    out.created++;
  }

  // Scale up into the lowest free slot numbers.
  let missing = replicas - inUse.length;
  for (let slot = 1; missing > 0; slot++) {
    if (slots.has(slot)) continue;
    if (full()) return out;
    tx.tasks.create(newTask(service, slot, '', nowMs));
    out.created++;
    missing--;
  }
  return out;
}

function shutDown(tx: WriteTx, t: RO<Task>, desired: TaskState, out: ReconcileOutcome): void {
  tx.tasks.update(withDesiredState(t, desired));
  out.shutDown++;
}
