// A service's tasks seen as slots (replicated: by slot number; global: by node), and what an
// update needs to know about each: which tasks still run, which are new, which wait for the
// old one to stop.
import { TaskState, type Node, type Service, type Task } from '../../../proto/gen/types.js';
import type { ReadonlyDeep } from '../../store/index.js';
import { byAge, hasFinished, isRunnable, nodeKeepsTasks } from '../tasks.js';
import { isOutdated } from './config.js';

type RO<T> = ReadonlyDeep<T>;

/**
 * A stop-first replacement is created in state NEW (the scheduler only takes PENDING tasks) so
 * its slot is never empty in the orchestrator's eyes, and moved to PENDING once the task it
 * replaces has stopped.
 */
export const HELD_STATE = TaskState.NEW;

/** Label on a start-first replacement: the orchestrators must not treat it as a duplicate. */
export const START_FIRST_LABEL = 'shoal.update.start-first';

export interface UpdateSlot {
  key: string;
  slot: number;
  nodeId: string;
  /** Runnable tasks, oldest first. */
  runnable: RO<Task>[];
  /** Every task of the slot, whatever its desired state. */
  all: RO<Task>[];
}

export function slotKeyOf(t: RO<Task>): string {
  return t.slot > 0 ? `s:${t.slot}` : `n:${t.nodeId}`;
}

export function groupSlots(tasks: readonly RO<Task>[]): Map<string, UpdateSlot> {
  const slots = new Map<string, UpdateSlot>();
  for (const t of tasks) {
    const key = slotKeyOf(t);
    let s = slots.get(key);
    if (!s) {
      s = { key, slot: t.slot, nodeId: t.slot > 0 ? '' : t.nodeId, runnable: [], all: [] };
      slots.set(key, s);
    }
    s.all.push(t);
    if (isRunnable(t)) s.runnable.push(t);
  }
  for (const s of slots.values()) s.runnable.sort(byAge);
  return slots;
}

/** A slot still holding a runnable task made from an older template. */
export function slotOutdated(service: RO<Service>, s: UpdateSlot): boolean {
  return s.runnable.some((t) => isOutdated(service, t));
}

/** Runnable, from the current template, and not dead. */
export function freshTask(service: RO<Service>, s: UpdateSlot): RO<Task> | undefined {
  for (let i = s.runnable.length - 1; i >= 0; i--) {
    const t = s.runnable[i]!;
    if (!isOutdated(service, t) && !hasFinished(t)) return t;
  }
  return undefined;
}

/** A task an agent may still be running: assigned, not yet stopped, on a node that reports. */
export function mayStillRun(t: RO<Task>, node: RO<Node> | undefined): boolean {
  const state = t.status?.state ?? TaskState.NEW;
  return state >= TaskState.ASSIGNED && state <= TaskState.RUNNING && nodeKeepsTasks(node);
}

export function isHeld(t: RO<Task>): boolean {
  return (t.status?.state ?? TaskState.NEW) === HELD_STATE && isRunnable(t);
}

/**
 * Hook for the orchestrators' "two live tasks in one slot: keep the newest" rule. True while the
 * newest is a start-first replacement that is not RUNNING yet: the older one must keep serving
 * until then (the updater shuts it down as soon as the new one runs).
 */
export function startFirstPending(aliveOldestFirst: readonly RO<Task>[]): boolean {
  const newest = aliveOldestFirst[aliveOldestFirst.length - 1];
  if (!newest || aliveOldestFirst.length < 2) return false;
  return newest.annotations?.labels?.[START_FIRST_LABEL] !== undefined && (newest.status?.state ?? TaskState.NEW) < TaskState.RUNNING;
}
