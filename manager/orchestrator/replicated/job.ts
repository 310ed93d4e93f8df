// One pass over a replicated job: run tasks in slots 1..total_completions, at most
// max_concurrent at a time, until each slot has a task that completed. A task that exits 0 is
// never restarted; a failed one follows the restart policy. A spec change starts a new run
// (iteration): tasks of earlier runs are history, and stopped if they still run.
import { TaskState, type Task } from '../../../proto/gen/types.js';
import { slotKey, type ReadonlyDeep, type WriteTx } from '../../store/index.js';
import type { RestartTracker } from '../restarts.js';
import { byAge, hasFinished, isRunnable, jobIteration, newTask, nodeKeepsTasks, ofEarlierRun, withDesiredState } from '../tasks.js';
import { SETTLED_DESIRED_STATE, type ReconcileOutcome } from './reconcile.js';

type RO<T> = ReadonlyDeep<T>;

export function reconcileReplicatedJob(
  tx: WriteTx,
  serviceId: string,
  nowMs: number,
  restarts: RestartTracker,
  maxChanges = Infinity,
): ReconcileOutcome {
  const out: ReconcileOutcome = { created: 0, shutDown: 0, incomplete: false, wakeAt: [] };
  const full = (): boolean => (out.incomplete ||= tx.size >= maxChanges);
  const service = tx.services.get(serviceId);
  if (service?.spec?.mode?.$case !== 'replicatedJob') return out;
  const job = service.spec.mode.value;
  const total = job.totalCompletions || job.maxConcurrent || 1;
  const concurrent = job.maxConcurrent || total;
  const stop = (t: RO<Task>, desired: TaskState): void => {
    tx.tasks.update(withDesiredState(t, desired));
    out.shutDown++;
  };

  restarts.startIteration(serviceId, jobIteration(service));
  const bySlot = new Map<number, RO<Task>[]>();
  for (const t of tx.tasks.find('service', serviceId)) {
    if (ofEarlierRun(t, service)) {
      if (isRunnable(t)) {
        if (full()) return out;
        stop(t, TaskState.SHUTDOWN);
      }
      continue;
    }
    const list = bySlot.get(t.slot);
    if (list) list.push(t);
    else bySlot.set(t.slot, [t]);
  }
  const done = new Set<number>();
  const running = new Set<number>();
  for (const [slot, list] of bySlot) {
    if (full()) return out;
    restarts.recall(slotKey(serviceId, slot), list, nowMs);
    for (const t of list.sort(byAge)) {
      if (t.desiredState === SETTLED_DESIRED_STATE) done.add(slot);
      if (!isRunnable(t)) continue;
      if (hasFinished(t)) {
        const completed = t.status?.state === TaskState.COMPLETE;
        if (completed || restarts.onDeath(slotKey(serviceId, slot), t, nowMs, list) === 'settle') {
          stop(t, SETTLED_DESIRED_STATE);
          done.add(slot);
        } else {
          stop(t, TaskState.SHUTDOWN);
        }
      } else if (t.nodeId && !nodeKeepsTasks(tx.nodes.get(t.nodeId))) {
        stop(t, TaskState.SHUTDOWN);
      } else {
        running.add(slot);
      }
    }
  }
  let room = concurrent - running.size;
  for (let slot = 1; slot <= total && room > 0; slot++) {
    if (done.has(slot) || running.has(slot)) continue;
    if (full()) return out;
    const key = slotKey(serviceId, slot);
    const due = restarts.dueAt(key);
    if (due !== undefined && due > nowMs) {
      out.wakeAt.push(due);
      continue;
    }
    restarts.done(key);
    tx.tasks.create(newTask(service, slot, '', nowMs));
    out.created++;
    room--;
  }
  return out;
}
