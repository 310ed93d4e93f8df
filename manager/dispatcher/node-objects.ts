// The secrets and configs one node holds: counted by the tasks on it that need them, sent
// (whole, with data) when the first such task arrives and removed (id only) when the last one
// goes. Nodes without such a task never receive the object.
import { AssignmentChange_Action, type AssignmentChange } from '../../proto/gen/dispatcher.js';
import { Config, Secret, TaskState, type Task } from '../../proto/gen/types.js';
import type { ReadonlyDeep, ReadTx } from '../store/index.js';

type RO<T> = ReadonlyDeep<T>;

/** Keys of the objects a task refers to: `s:<id>` for secrets, `c:<id>` for configs. */
export type ObjectKey = string;

const NONE: readonly ObjectKey[] = [];

/**
 * What a task needs on its node: its secrets and configs while it may still run. A task past
 * RUNNING has no container left to mount them into (a restart is a new task).
 */
export function objectsNeeded(t: RO<Task>): readonly ObjectKey[] {
  const c = t.spec?.container;
  if (!c || (c.secrets.length === 0 && c.configs.length === 0)) return NONE;
  if ((t.status?.state ?? TaskState.NEW) > TaskState.RUNNING) return NONE;
  const keys: ObjectKey[] = [];
  for (const r of c.secrets) if (r.secretId) keys.push(`s:${r.secretId}`);
  for (const r of c.configs) if (r.configId) keys.push(`c:${r.configId}`);
  return keys;
}

function change(action: AssignmentChange_Action, key: ObjectKey, obj?: RO<Secret> | RO<Config>): AssignmentChange {
  const id = key.slice(2);
  const secret = key.startsWith('s:');
  const value = (obj ?? (secret ? Secret.fromPartial({ id }) : Config.fromPartial({ id }))) as Secret & Config;
  return { action, task: undefined, secret: secret ? value : undefined, config: secret ? undefined : value };
}

export class NodeObjects {
  private readonly counts = new Map<ObjectKey, number>();
  /** What the agent holds once every message emitted so far is applied. */
  private readonly known = new Set<ObjectKey>();
  private readonly pending = new Map<ObjectKey, AssignmentChange>();

  /** Missing objects (removed while a task still named them) are skipped: the agent rejects that task. */
  constructor(private readonly read: <T>(fn: (tx: ReadTx) => T) => T) {}

  reset(): void {
    this.counts.clear();
    this.known.clear();
    this.pending.clear();
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** A task needing these objects arrived (or changed); tx, when given, is the read to use. */
  acquire(keys: readonly ObjectKey[], tx?: ReadTx): void {
    for (const key of keys) {
      const n = (this.counts.get(key) ?? 0) + 1;
      this.counts.set(key, n);
      if (n > 1) continue;
      const queued = this.pending.get(key);
      if (queued?.action === AssignmentChange_Action.REMOVE) {
        this.pending.delete(key); // the agent still has it
        continue;
      }
      if (this.known.has(key)) continue;
      const obj = tx ? lookup(tx, key) : this.read((t) => lookup(t, key));
      if (obj) this.pending.set(key, change(AssignmentChange_Action.UPDATE, key, obj));
    }
  }

  release(keys: readonly ObjectKey[]): void {
    for (const key of keys) {
      const n = (this.counts.get(key) ?? 0) - 1;
      if (n > 0) {
        this.counts.set(key, n);
        continue;
      }
      this.counts.delete(key);
      this.pending.delete(key);
      if (this.known.has(key)) this.pending.set(key, change(AssignmentChange_Action.REMOVE, key));
    }
  }

  /** The queued changes: [updates, removals]; the agent is then taken to hold the result. */
  take(): [AssignmentChange[], AssignmentChange[]] {
    const updates: AssignmentChange[] = [];
    const removals: AssignmentChange[] = [];
    for (const [key, c] of this.pending) {
      if (c.action === AssignmentChange_Action.REMOVE) {
        this.known.delete(key);
        removals.push(c);
      } else {
        this.known.add(key);
        updates.push(c);
      }
    }
    this.pending.clear();
    return [updates, removals];
  }

  /** Objects held, for tests and status. */
  get size(): number {
    return this.counts.size;
  }
}

function lookup(tx: ReadTx, key: ObjectKey): RO<Secret> | RO<Config> | undefined {
  const id = key.slice(2);
  return key.startsWith('s:') ? tx.secrets.get(id) : tx.configs.get(id);
}
