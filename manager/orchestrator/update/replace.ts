// The task moves an update makes in one slot: bring up a new task (start-first), or shut the
// old ones down and hold the new one until they have stopped (stop-first).
import { TaskState, TaskStatus, type Service, type Task } from '../../../proto/gen/types.js';
import type { ReadonlyDeep, WriteTx } from '../../store/index.js';
import { hasFinished, newTask, withDesiredState } from '../tasks.js';
import { isOutdated } from './config.js';
import { freshTask, HELD_STATE, isHeld, mayStillRun, START_FIRST_LABEL, type UpdateSlot } from './slots.js';

type RO<T> = ReadonlyDeep<T>;

function stillRunning(tx: WriteTx, s: UpdateSlot, except: string): boolean {
  return s.all.some((t) => t.id !== except && mayStillRun(t, tx.nodes.get(t.nodeId)));
}

/** Starts the replacement of one slot; returns the id of the task that will serve it. */
export function replaceSlot(tx: WriteTx, service: RO<Service>, s: UpdateSlot, startFirst: boolean, nowMs: number): string {
  const outdated = s.runnable.filter((t) => isOutdated(service, t));
  const fresh = freshTask(service, s);
  if (fresh) {
    // Already brought up (by an earlier run, or the orchestrator): only the old ones go, and
    // under start-first only once the new one runs (settleSlot does that).
    if (!startFirst) for (const t of outdated) tx.tasks.update(withDesiredState(t, TaskState.SHUTDOWN));
    return fresh.id;
  }
  let t = newTask(service, s.slot, s.nodeId, nowMs);
  if (startFirst) {
    const replaces = outdated[outdated.length - 1]?.id ?? '';
    t = { ...t, annotations: { name: '', labels: { [START_FIRST_LABEL]: replaces } } };
  } else {
    for (const o of s.runnable) tx.tasks.update(withDesiredState(o, TaskState.SHUTDOWN));
    if (stillRunning(tx, s, t.id)) {
      t = { ...t, status: { ...TaskStatus.fromPartial({}), state: HELD_STATE, timestampMs: BigInt(nowMs), message: 'waiting for the task it replaces to stop' } };
    }
  }
  tx.tasks.create(t);
  return t.id;
}

/**
 * Moves a slot on without any run's memory, so a new leader finishes what the old one began:
 * a held task is released once nothing else in its slot runs; under start-first, the old tasks
 * are shut down once the new one is RUNNING.
 */
export function settleSlot(tx: WriteTx, service: RO<Service>, s: UpdateSlot, nowMs: number): void {
  for (const t of s.runnable) {
    if (isHeld(t) && !isOutdated(service, t) && !stillRunning(tx, s, t.id)) {
      tx.tasks.update({ ...t, status: { ...TaskStatus.fromPartial({}), state: TaskState.PENDING, timestampMs: BigInt(nowMs), message: 'created' } });
    }
  }
  const fresh = freshTask(service, s);
  if (fresh?.status?.state !== TaskState.RUNNING) return;
  for (const t of s.runnable) {
    if (t.id !== fresh.id && isOutdated(service, t) && !hasFinished(t)) tx.tasks.update(withDesiredState(t, TaskState.SHUTDOWN));
  }
}

/** Failed within its monitor period: exited (even with 0), rejected, or stopped unasked. */
export function failedEarly(t: RO<Task>): boolean {
  const st = t.status?.state ?? TaskState.NEW;
  if (st === TaskState.SHUTDOWN) return t.desiredState <= TaskState.RUNNING;
  return st > TaskState.RUNNING;
}

export function failureText(t: RO<Task>): string {
  const why = t.status?.err || t.status?.message || TaskState[t.status?.state ?? TaskState.NEW];
  return `task ${t.id}: ${why}`;
}
