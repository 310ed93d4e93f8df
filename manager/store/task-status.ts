// Recording what agents report about their tasks. Task states only move forward, so a report
// that arrives late or twice is refused with one comparison and never rolls a task back.
import { TaskStatus, type Task } from '../../proto/gen/types.js';
import type { WriteTx } from './tx.js';
import type { ReadonlyDeep } from './types.js';

export type StatusOutcome = 'applied' | 'unchanged' | 'stale' | 'missing' | 'not-owner';

/**
 * Writes status onto the task inside tx (a dispatcher batches many reports into one update()).
 * fromNodeId, when given, must be the node the task is assigned to.
 */
export function applyTaskStatus(tx: WriteTx, taskId: string, status: ReadonlyDeep<TaskStatus>, fromNodeId?: string): StatusOutcome {
  const t = tx.tasks.get(taskId);
  if (!t) return 'missing';
  if (fromNodeId !== undefined && t.nodeId !== fromNodeId) return 'not-owner';
  const current = t.status?.state ?? 0;
  if (status.state < current) return 'stale';
  if (status.state === current && t.status && sameStatus(t.status, status)) return 'unchanged';
  tx.tasks.update({ ...t, status } as ReadonlyDeep<Task>);
  return 'applied';
}

function sameStatus(a: ReadonlyDeep<TaskStatus>, b: ReadonlyDeep<TaskStatus>): boolean {
  const ea = TaskStatus.encode({ ...(a as TaskStatus), timestampMs: 0n }).finish();
  const eb = TaskStatus.encode({ ...(b as TaskStatus), timestampMs: 0n }).finish();
  return Buffer.from(ea).equals(Buffer.from(eb));
}
