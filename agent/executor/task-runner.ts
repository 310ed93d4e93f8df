// Drives one task: calls step() until the status stops changing, persisting and reporting each
// new status; wakes again when the managers change the task; removes it when told to.
import type { Logger } from 'pino';
import type { Task, TaskStatus } from '../../proto/gen/types.js';
import type { Controller } from './controller.js';
import { isTerminal, step } from './step.js';

export interface RunnerController extends Controller {
  update?(task: Task): void;
}

export class TaskRunner {
  private wake: (() => void) | undefined;
  private waitAbort: AbortController | undefined;
  private detached = false;
  private readonly done: Promise<void>;

  constructor(
    private task: Task,
    private status: TaskStatus,
    private readonly ctl: RunnerController,
    /** Persists and reports a new status. */
    private readonly onStatus: (task: Task, status: TaskStatus) => void,
    private readonly log: Logger,
  ) {
    this.done = this.loop();
  }

  get current(): { task: Task; status: TaskStatus } {
    return { task: this.task, status: this.status };
  }

  /** New assignment from the managers: a changed desired state interrupts a wait. */
  update(task: Task): void {
    const desiredChanged = task.desiredState !== this.task.desiredState;
    this.task = task;
    this.ctl.update?.(task);
    if (desiredChanged) this.waitAbort?.abort();
    this.kick();
  }

  private kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async loop(): Promise<void> {
    while (!this.detached) {
      const ac = new AbortController();
      this.waitAbort = ac;
      const woken = new Promise<void>((r) => (this.wake = r));
      let next: TaskStatus;
      try {
        next = await step(this.task, this.status, this.ctl, { signal: ac.signal });
      } catch (err) {
        this.log.error({ task: this.task.id, err }, 'task step failed');
        next = this.status;
      }
      if (this.detached) return;
      if (next !== this.status) {
        this.status = next;
        this.log.info({ task: this.task.id, service: this.task.serviceName, state: next.state, message: next.message, err: next.err || undefined }, 'task state changed');
        this.onStatus(this.task, next);
        continue;
      }
      if (ac.signal.aborted) continue;
      await woken;
    }
  }

  /** Stops driving the task and leaves its container as it is (agent shutdown). */
  async detach(): Promise<void> {
    this.detached = true;
    this.waitAbort?.abort();
    this.kick();
    await this.done;
  }

  /** The task is no longer this node's: stop it if needed and remove its container. */
  async remove(): Promise<void> {
    await this.detach();
    if (!isTerminal(this.status.state)) await this.ctl.shutdown();
    await this.ctl.remove();
  }
}
