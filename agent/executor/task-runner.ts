// Drives one task: calls step() until the status stops changing, persisting and reporting each
// new status that is worth it; wakes again when the managers change the task; removes its
// container as soon as it stopped for good when the managers want the task removed.
import type { Logger } from 'pino';
import { TaskState, type Task, type TaskStatus } from '../../proto/gen/types.js';
import type { Controller } from './controller.js';
import { isTerminal, step } from './step.js';

/**
 * States on the way to RUNNING (ACCEPTED, PREPARING, STARTING) are persisted and reported only
 * once they have lasted this long: usually the next one follows within milliseconds and says
 * more, while a slow prepare (a big image, a volume copied up) still shows as PREPARING. An
 * agent that dies meanwhile redoes the prepare or start, which are idempotent. Each persisted
 * status costs a file written on the host's disk, a good part of a container start when the
 * disk is busy.
 */
export const PASSING_REPORT_MS = 250;

function isPassing(state: TaskState): boolean {
  return state === TaskState.ACCEPTED || state === TaskState.PREPARING || state === TaskState.STARTING;
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
  /** Reports a passing state that lasted (see PASSING_REPORT_MS). */
  private lateReport: NodeJS.Timeout | undefined;
  private readonly done: Promise<void>;

  constructor(
    private task: Task,
    private status: TaskStatus,
    private readonly ctl: RunnerController,
    /** Persists and reports a new status. */
    private readonly onStatus: (task: Task, status: TaskStatus) => void,
    private readonly log: Logger,
    private readonly opts: { passingReportMs?: number } = {},
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
        this.report(next);
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

  /** Persists and reports `s` now, or if it is a passing state, once it has lasted. */
  private report(s: TaskStatus): void {
    clearTimeout(this.lateReport);
    this.lateReport = undefined;
    if (!isPassing(s.state)) {
      this.onStatus(this.task, s);
      return;
    }
    this.lateReport = setTimeout(() => {
      this.lateReport = undefined;
      if (!this.detached && this.status === s) this.onStatus(this.task, s);
    }, this.opts.passingReportMs ?? PASSING_REPORT_MS);
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
    clearTimeout(this.lateReport);
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
