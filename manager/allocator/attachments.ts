// Which networks a task must be attached to, and whether the allocator has done it: the
// scheduler places a task only once every one of them has an address (swarmkit's order).
import { TaskState, type Service, type Task } from '../../proto/gen/types.js';
import type { ReadonlyDeep } from '../store/index.js';

type RO<T> = ReadonlyDeep<T>;

/** Targets that are modes of the host's own stack, not networks of the cluster. */
const HOST_MODES = new Set(['host', 'none']);

/** The network targets (id or name) of a task: its template's, then its service's (deprecated place). */
export function attachmentTargets(t: RO<Task>, service?: RO<Service>): { target: string; aliases: readonly string[] }[] {
  const out: { target: string; aliases: readonly string[] }[] = [];
  for (const n of [...(t.spec?.networks ?? []), ...(service?.spec?.networks ?? [])]) {
    if (!n.target || HOST_MODES.has(n.target)) continue;
    if (!out.some((o) => o.target === n.target)) out.push({ target: n.target, aliases: n.aliases });
  }
  return out;
}

/** Every network the task's template names has an attachment with an address. */
export function networksAllocated(t: RO<Task>): boolean {
  const wanted = attachmentTargets(t).length;
  if (wanted === 0) return true;
  return t.networks.filter((a) => a.addresses.length > 0).length >= wanted;
}

/**
 * The task gives its addresses back: it has stopped for good (states only increase), or it was
 * told to stop and either never reached a node or its node was removed from the cluster.
 */
export function releasesAddresses(t: RO<Task>, nodeGone: boolean): boolean {
  const state = t.status?.state ?? TaskState.NEW;
  if (state > TaskState.RUNNING) return true;
  return t.desiredState > TaskState.RUNNING && (state < TaskState.ASSIGNED || nodeGone);
}

/** A task the allocator still has to attach: not yet placed, meant to run. */
export function awaitsAllocation(t: RO<Task>): boolean {
  return (t.status?.state ?? TaskState.NEW) < TaskState.ASSIGNED && t.desiredState <= TaskState.RUNNING;
}
