// What both orchestrators and the task reaper agree on about tasks: how a new one is made, which
// ones still count, and when a dead one may be restarted.
import {
  Node,
  NodeAvailability,
  NodeStatus_State,
  RestartPolicy_Condition,
  Service,
  Task,
  TaskState,
  TaskStatus,
} from '../../proto/gen/types.js';
import { newObjectId, type ReadonlyDeep } from '../store/index.js';

type RO<T> = ReadonlyDeep<T>;

/**
 * The state new tasks start in. Swarm has its allocator move NEW to PENDING; here NEW is the
 * updater's held state, so tasks start PENDING and the scheduler takes one only once the
 * allocator has given it its network attachments (manager/allocator, networksAllocated).
 */
export const INITIAL_TASK_STATE = TaskState.PENDING;

/** Docker's default pause before a failed task is replaced. */
export const DEFAULT_RESTART_DELAY_MS = 5_000;

/**
 * Objects one orchestrator transaction may touch before it stops and runs another: a few
 * hundred bytes each keeps a proposal well under the Raft node's 1 MiB entry limit.
 */
export const DEFAULT_CHANGES_PER_TX = 1000;

/** Tasks kept per slot (the current one included) when the cluster object does not say. */
export const DEFAULT_TASK_HISTORY = 5;

export function newTask(service: RO<Service>, slot: number, nodeId: string, nowMs: number): RO<Task> {
  const spec = service.spec;
  return {
    ...Task.fromPartial({}),
    id: newObjectId(),
    serviceId: service.id,
    serviceName: spec?.annotations?.name ?? '',
    slot,
    nodeId,
    spec: spec?.task,
    specVersion: service.specVersion,
    jobIteration: isJob(service) ? jobIteration(service) : 0n,
    desiredState: TaskState.RUNNING,
    status: { ...TaskStatus.fromPartial({}), state: INITIAL_TASK_STATE, timestampMs: BigInt(nowMs), message: 'created' },
    endpoint: spec?.endpoint ? { spec: spec.endpoint, ports: [], virtualIps: [] } : undefined,
  };
}

/** A copy of a task told to move to another desired state. */
export function withDesiredState(t: RO<Task>, desiredState: TaskState): RO<Task> {
  return { ...t, desiredState };
}

/** Still meant to run (or to be prepared): desired state not past RUNNING. */
export function isRunnable(t: RO<Task>): boolean {
  return t.desiredState <= TaskState.RUNNING;
}

/** The task has stopped, whatever the reason. */
export function hasFinished(t: RO<Task>): boolean {
  return (t.status?.state ?? TaskState.NEW) > TaskState.RUNNING;
}

/** A runnable task that died and needs the restart policy's verdict. */
export function diedWhileRunnable(t: RO<Task>): boolean {
  return isRunnable(t) && hasFinished(t);
}

export function restartAllowed(t: RO<Task>): boolean {
  const condition = t.spec?.restart?.condition ?? RestartPolicy_Condition.ANY;
  if (condition === RestartPolicy_Condition.NONE) return false;
  if (condition === RestartPolicy_Condition.ON_FAILURE) return t.status?.state !== TaskState.COMPLETE;
  return true;
}

export function restartDelayMs(t: RO<Task>): number {
  const d = t.spec?.restart?.delay;
  return d ? Number(d.nanos / 1_000_000n) : DEFAULT_RESTART_DELAY_MS;
}

/** A node whose tasks may stay where they are: known, not down, not drained. */
export function nodeKeepsTasks(node: RO<Node> | undefined): boolean {
  return !!node && node.status?.state !== NodeStatus_State.DOWN && node.spec?.availability !== NodeAvailability.DRAIN;
}

/** A node that may be given new tasks: ready and active. */
export function nodeTakesNewTasks(node: RO<Node> | undefined): boolean {
  return !!node && node.status?.state === NodeStatus_State.READY && (node.spec?.availability ?? NodeAvailability.ACTIVE) === NodeAvailability.ACTIVE;
}

/** Oldest first: by creation time, then by the index that last wrote it. */
export function byAge(a: RO<Task>, b: RO<Task>): number {
  const ca = a.meta?.createdAtMs ?? 0n;
  const cb = b.meta?.createdAtMs ?? 0n;
  if (ca !== cb) return ca < cb ? -1 : 1;
  const va = a.meta?.version ?? 0n;
  const vb = b.meta?.version ?? 0n;
  return va < vb ? -1 : va > vb ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Replicated services and replicated jobs (the replicated orchestrator's). */
export function isReplicated(s: RO<Service> | undefined): boolean {
  const mode = s?.spec?.mode?.$case;
  return mode === 'replicated' || mode === 'replicatedJob';
}

/** Global services and global jobs (the global orchestrator's). */
export function isGlobal(s: RO<Service> | undefined): boolean {
  const mode = s?.spec?.mode?.$case;
  return mode === 'global' || mode === 'globalJob';
}

/** Replicated and global jobs: run to completion, never restarted on success. */
export function isJob(s: RO<Service> | undefined): boolean {
  const mode = s?.spec?.mode?.$case;
  return mode === 'replicatedJob' || mode === 'globalJob';
}

/**
 * The run of a job that is current. Every spec change of a job (`service update --force`
 * included) runs it again, as Swarm's job_iteration does; the control API already bumps
 * spec_version on each change, so that number is the iteration.
 */
export function jobIteration(s: RO<Service>): bigint {
  return s.specVersion;
}

/** A job's task made for an earlier run: history, not part of the current one. */
export function ofEarlierRun(t: RO<Task>, s: RO<Service>): boolean {
  return t.specVersion !== jobIteration(s);
}
