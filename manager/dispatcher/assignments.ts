// One node's view of its assignments: the COMPLETE set when its stream opens, then INCREMENTAL
// messages built from committed store changes. Only what the agent acts on counts as a change
// (desired state, spec, networks, node), so the agent's own status reports are not echoed back.
import { AssignmentChange_Action, AssignmentsType, type AssignmentChange, type AssignmentsMessage } from '../../proto/gen/dispatcher.js';
import { Task, TaskState } from '../../proto/gen/types.js';
import type { ReadonlyDeep, ReadTx } from '../store/index.js';

type RO<T> = ReadonlyDeep<T>;

/** A task the node must know about: on it and past the scheduler (pending ones are not yet its). */
export function isAssignedTo(t: RO<Task> | undefined, nodeId: string): t is RO<Task> {
  return !!t && t.nodeId === nodeId && (t.status?.state ?? TaskState.NEW) >= TaskState.ASSIGNED;
}

/** The parts of a task the agent acts on, as bytes to compare. */
function fingerprint(t: RO<Task>): string {
  const view = Task.fromPartial({
    id: t.id,
    nodeId: t.nodeId,
    desiredState: t.desiredState,
    spec: t.spec as Task['spec'],
    specVersion: t.specVersion,
    networks: t.networks as Task['networks'],
    endpoint: t.endpoint as Task['endpoint'],
  });
  return Buffer.from(Task.encode(view).finish()).toString('latin1');
}

export class NodeAssignments {
  /** Store version the COMPLETE set was read at: commits up to it are already in the set. */
  private baseVersion = 0n;
  private readonly sent = new Map<string, string>();
  private readonly pending = new Map<string, AssignmentChange>();
  private lastId = '';
  private seq = 0;

  constructor(
    readonly nodeId: string,
    private readonly send: (msg: AssignmentsMessage) => void,
  ) {}

  /** Sends the full set as read by tx at store version `version`. */
  sendComplete(tx: ReadTx, version: bigint): void {
    this.baseVersion = version;
    this.sent.clear();
    this.pending.clear();
    const changes: AssignmentChange[] = [];
    for (const t of tx.tasks.find('node', this.nodeId)) {
      if (!isAssignedTo(t, this.nodeId)) continue;
      this.sent.set(t.id, fingerprint(t));
      changes.push({ action: AssignmentChange_Action.UPDATE, task: t as Task });
    }
    this.emit(AssignmentsType.COMPLETE, changes);
  }

  /**
   * A task event of a commit at `version` that concerns this node (now or before); true when it
   * left a change to send.
   */
  taskChanged(task: RO<Task>, deleted: boolean, version: bigint): boolean {
    if (version <= this.baseVersion) return false;
    const id = task.id;
    if (!deleted && isAssignedTo(task, this.nodeId)) {
      const fp = fingerprint(task);
      if (this.sent.get(id) === fp) return false;
      this.sent.set(id, fp);
      this.pending.set(id, { action: AssignmentChange_Action.UPDATE, task: task as Task });
      return true;
    }
    if (!this.sent.has(id)) {
      this.pending.delete(id);
      return false;
    }
    this.sent.delete(id);
    this.pending.set(id, { action: AssignmentChange_Action.REMOVE, task: Task.fromPartial({ id }) });
    return true;
  }

  /** Sends the changes gathered since the last message, if any. */
  flush(): void {
    if (this.pending.size === 0) return;
    const changes = [...this.pending.values()];
    this.pending.clear();
    this.emit(AssignmentsType.INCREMENTAL, changes);
  }

  get assignedCount(): number {
    return this.sent.size;
  }

  private emit(type: AssignmentsType, changes: AssignmentChange[]): void {
    const id = `${this.nodeId.slice(0, 8)}-${++this.seq}`;
    this.send({ type, appliesTo: type === AssignmentsType.INCREMENTAL ? this.lastId : '', resultsIn: id, changes });
    this.lastId = id;
  }
}
