// Drives one task: calls step() until the status stops changing, persisting and reporting each
// new status that is worth it; wakes again when the managers change the task; removes its
// container as soon as it stopped for good when the managers want the task removed.
import type { Logger } from 'pino';
import { TaskState, type Task, type TaskStatus } from '../../proto/gen/types.js';
import type { Controller } from './controller.js';
import { isTerminal, step } from './step.js';

/**
 * States the task leaves at once by itself: ACCEPTED becomes PREPARING without any work, and
 * STARTING lasts one start of a prepared container. Neither is persisted nor reported (the next
 * one follows within milliseconds and says more); an agent that dies in between redoes the
 * prepare or start, which are idempotent. Each persisted status costs a file creation, which is
 * what a container start spends most on when the disk is busy.
 */
function isPassing(state: TaskState): boolean {
  return state === TaskState.ACCEPTED || state === TaskState.STARTING;
}

export interface RunnerController extends Controller {
  update?(task: Task): void;
}

export class TaskRunner {
  private wake: (() => void) | undefined;
  private waitAbort: AbortController | undefined;
  private detached = false;
  /** The container was removed because the task is to be removed (desired REMOVE). */
  private removed = false;
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
        if (!isPassing(next.state)) this.onStatus(this.task, next);
        // a turn of the event loop between steps: many tasks stepping at once otherwise run as
        // one long chain of microtasks in which no I/O (supervisors' reports, the session) is read
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      if (ac.signal.aborted) continue;
      if (isTerminal(this.status.state) && this.task.desiredState === TaskState.REMOVE && !this.removed) {
        await this.removeContainer();
        continue;
      }
      await woken;
    }
  }

  /**
   * The task stopped and its service (or the task) is going away: its container goes now, in
   * parallel with the other tasks', instead of after the managers have deleted the task and sent
   * the removal (a round trip through the store per batch, and then one removal after another).
   */
  private async removeContainer(): Promise<void> {
    this.removed = true;
    try {
      await this.ctl.remove();
      this.log.info({ task: this.task.id, service: this.task.serviceName }, 'task container removed (task to be removed)');
    } catch (err) {
      // remove() runs again when the managers send the removal
      this.log.warn({ task: this.task.id, err }, 'removing the container of a task to be removed failed');
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
