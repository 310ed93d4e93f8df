// The agent's memory of its tasks, one small JSON file per task under <stateDir>/tasks: the task
// as last assigned and the status last reached. A restarted agent starts from here, so a running
// task is re-adopted (same container, same pid) instead of started again.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Task, TaskStatus } from '../../proto/gen/types.js';

export interface TaskRecord {
  task: Task;
  status: TaskStatus;
}

export class TaskStateStore {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'tasks');
    mkdirSync(this.dir, { recursive: true });
  }

  private file(taskId: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(taskId)) throw new Error(`task id ${JSON.stringify(taskId)} cannot name a state file`);
    return join(this.dir, `${taskId}.json`);
  }

  loadAll(): Map<string, TaskRecord> {
    const out = new Map<string, TaskRecord>();
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const raw = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as { task: unknown; status: unknown };
        const rec = { task: Task.fromJSON(raw.task), status: TaskStatus.fromJSON(raw.status) };
        if (rec.task.id) out.set(rec.task.id, rec);
      } catch {
        // a torn or foreign file: the managers' COMPLETE set will tell us about the task again
      }
    }
    return out;
  }

  /** Written before the status is reported, so a crash never forgets what was reported. */
  save(rec: TaskRecord): void {
    const path = this.file(rec.task.id);
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, JSON.stringify({ task: Task.toJSON(rec.task), status: TaskStatus.toJSON(rec.status) }));
    renameSync(tmp, path);
  }

  delete(taskId: string): void {
    rmSync(this.file(taskId), { force: true });
  }
}
