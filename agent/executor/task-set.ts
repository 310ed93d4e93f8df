// The tasks this node runs, kept in line with the managers' assignments: a COMPLETE set replaces
// everything (tasks not in it are stopped and removed, including containers a previous agent
// left behind), INCREMENTAL messages add, change and remove single tasks. Messages are applied
// one at a time, in order.
import type { Logger } from 'pino';
import { TaskState, type Task, type TaskStatus } from '../../proto/gen/types.js';
import { TaskRunner, type RunnerController } from './task-runner.js';
import type { TaskRecord, TaskStateStore } from './task-state.js';

export interface TaskSetDeps {
  controllerFor(task: Task): RunnerController;
  /** Task ids of the task containers on this node (labels), to find leftovers. */
  containerTaskIds(): Promise<string[]>;
  state: TaskStateStore;
  /** A new status to send to the managers. */
  report(taskId: string, status: TaskStatus): void;
  logger: Logger;
}

export class TaskSet {
  private readonly runners = new Map<string, TaskRunner>();
  private readonly known: Map<string, TaskRecord>;
  private queue: Promise<void> = Promise.resolve();
  /** Set by detachAll: assignments still queued are dropped. */
  private closed = false;

  constructor(private readonly deps: TaskSetDeps) {
    // what a previous agent process knew: resumed (not restarted) when the managers confirm it
    this.known = deps.state.loadAll();
  }

  /** The tasks being driven now, with their latest status. */
  list(): { task: Task; status: TaskStatus }[] {
    return [...this.runners.values()].map((r) => r.current);
  }

  /** Every task this node knows of: driven now, or left by a previous agent process. */
  knownTasks(): Task[] {
    return [...[...this.runners.values()].map((r) => r.current.task), ...[...this.known.values()].map((r) => r.task)];
  }

  /** Resolves once applied and the containers of the tasks not in it are gone. */
  complete(tasks: Task[]): Promise<void> {
    const removals: Promise<void>[] = [];
    return this.enqueue(async () => {
      const wanted = new Set(tasks.map((t) => t.id));
      for (const id of [...this.runners.keys()]) if (!wanted.has(id)) removals.push(this.removeNow(id));
      const leftovers = new Set([...this.known.keys(), ...(await this.deps.containerTaskIds())]);
      for (const id of leftovers) {
        if (wanted.has(id) || this.runners.has(id)) continue;
        // the managers gave this task to another node (or forgot it) while we were away
        const rec = this.known.get(id);
        this.known.delete(id);
        const ctl = this.deps.controllerFor(rec?.task ?? ({ id } as Task));
        this.deps.logger.info({ task: id }, 'task no longer assigned here: stopping and removing it');
        await ctl.shutdown().catch((err: unknown) => this.deps.logger.warn({ task: id, err }, 'stopping a leftover task failed'));
        await ctl.remove().catch((err: unknown) => this.deps.logger.warn({ task: id, err }, 'removing a leftover task failed'));
        this.deps.state.delete(id);
      }
      for (const t of tasks) this.upsert(t);
    }).then(async () => {
      await Promise.all(removals);
    });
  }

  update(task: Task): Promise<void> {
    return this.enqueue(async () => this.upsert(task));
  }

  /** Resolves when the task's container is gone (its removal runs beside the queue). */
  remove(taskId: string): Promise<void> {
    let done: Promise<void> = Promise.resolve();
    return this.enqueue(async () => {
      done = this.removeNow(taskId);
    }).then(() => done);
  }

  /**
   * Stops driving every task and leaves the containers running (agent shutdown). Assignments
   * not applied yet are dropped and removals under way are left to finish on their own: the
   * next agent gets the full set from the managers and removes what is left over.
   */
  async detachAll(): Promise<void> {
    this.closed = true;
    await this.queue;
    await Promise.all([...this.runners.values()].map((r) => r.detach()));
    this.runners.clear();
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const run = async (): Promise<void> => {
      if (!this.closed) await fn();
    };
    const p = this.queue.then(run).catch((err: unknown) => this.deps.logger.error({ err }, 'applying assignments failed'));
    this.queue = p;
    return p;
  }

  private upsert(task: Task): void {
    const r = this.runners.get(task.id);
    if (r) {
      r.update(task);
      this.deps.state.save({ task, status: r.current.status });
      return;
    }
    const local = this.known.get(task.id);
    this.known.delete(task.id);
    const fromManager = task.status ?? ({ state: TaskState.ASSIGNED } as TaskStatus);
    // our own record is newer than what the managers heard, unless they know of a later state
    const status = local && local.status.state >= fromManager.state ? local.status : fromManager;
    this.deps.state.save({ task, status });
    if (local) this.deps.report(task.id, status);
    const runner = new TaskRunner(task, status, this.deps.controllerFor(task), (t, s) => this.onStatus(t, s), this.deps.logger);
    this.runners.set(task.id, runner);
  }

  private onStatus(task: Task, status: TaskStatus): void {
    if (!this.runners.has(task.id)) return;
    this.deps.state.save({ task, status });
    this.deps.report(task.id, status);
  }

  /**
   * Forgets the task at once and removes its container beside the queue: one slow stop (a long
   * grace period) must not hold up the assignments behind it, such as the stop of tasks that
   * are still being created.
   */
  private removeNow(taskId: string): Promise<void> {
    const r = this.runners.get(taskId);
    this.runners.delete(taskId);
    this.known.delete(taskId);
    const work = (async () => {
      if (r) {
        this.deps.logger.info({ task: taskId }, 'task removed from this node');
        await r.remove().catch((err: unknown) => this.deps.logger.warn({ task: taskId, err }, 'removing task failed'));
      }
      this.deps.state.delete(taskId);
    })();
    return work;
  }
}
