// The executor's step function: given a task (its desired state from the managers) and its
// current status (from this agent), performs at most one transition through the controller and
// returns the new status. It keeps no state of its own; the caller persists and reports each
// status and calls again until the status stops changing.
import { TaskState, TaskStatus, type Task } from '../../proto/gen/types.js';
import { TaskRejectedError, type Controller } from './controller.js';

export interface StepOptions {
  /** Aborts a prepare() or a wait() for the task's exit (its desired state changed). */
  signal?: AbortSignal;
  now?: () => number;
}

/** The task has stopped for good (or never ran): nothing more to do but remove it. */
export function isTerminal(state: TaskState): boolean {
  return state > TaskState.RUNNING;
}

function next(current: TaskStatus, state: TaskState, message: string, now: () => number, extra: Partial<TaskStatus> = {}): TaskStatus {
  return {
    ...TaskStatus.fromPartial({}),
    containerId: current.containerId,
    pid: current.pid,
    ...extra,
    state,
    message,
    timestampMs: BigInt(now()),
  };
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One move of `task` towards its desired state. Returns `current` itself when nothing moved. */
export async function step(task: Task, current: TaskStatus, ctl: Controller, opts: StepOptions = {}): Promise<TaskStatus> {
  const now = opts.now ?? Date.now;
  const state = current.state;
  if (isTerminal(state)) return current;

  if (task.desiredState > TaskState.RUNNING) {
    // Stop whatever got started; a task that never started simply ends.
    if (state >= TaskState.PREPARING) {
      try {
        await ctl.shutdown();
      } catch (err) {
        return next(current, TaskState.FAILED, 'shutdown failed', now, { err: reason(err) });
      }
    }
    return next(current, TaskState.SHUTDOWN, 'shutdown', now);
  }

  switch (state) {
    case TaskState.ACCEPTED:
      return next(current, TaskState.PREPARING, 'preparing', now);
    case TaskState.PREPARING:
      try {
        await ctl.prepare(opts.signal);
      } catch (err) {
        // the managers changed the task meanwhile (e.g. its service was removed): the next step
        // decides with the new desired state, and no container was made for the old one
        if (opts.signal?.aborted) return current;
        return next(current, TaskState.REJECTED, 'preparing failed', now, { err: reason(err) });
      }
      return next(current, TaskState.STARTING, 'starting', now);
    case TaskState.STARTING:
      try {
        const { containerId, pid } = await ctl.start();
        return next(current, TaskState.RUNNING, 'started', now, { containerId, pid });
      } catch (err) {
        const rejected = err instanceof TaskRejectedError;
        return next(current, rejected ? TaskState.REJECTED : TaskState.FAILED, 'starting failed', now, { err: reason(err) });
      }
    case TaskState.RUNNING: {
      let exit;
      try {
        exit = await ctl.wait(opts.signal);
      } catch (err) {
        if (opts.signal?.aborted) return current;
        return next(current, TaskState.FAILED, 'lost the container', now, { err: reason(err) });
      }
      if (exit.unhealthy) return next(current, TaskState.FAILED, 'finished', now, { exitCode: exit.exitCode, err: 'task: non-zero exit (unhealthy)' });
      if (exit.oomKilled) return next(current, TaskState.FAILED, 'finished', now, { exitCode: exit.exitCode, oomKilled: true, err: 'task: killed by the OOM killer (memory limit reached)' });
      if (exit.exitCode === 0) return next(current, TaskState.COMPLETE, 'finished', now, { exitCode: 0 });
      return next(current, TaskState.FAILED, 'finished', now, { exitCode: exit.exitCode, err: `task: non-zero exit (${exit.exitCode})` });
    }
    default:
      // NEW, PENDING, ASSIGNED: the agent has it now
      return next(current, TaskState.ACCEPTED, 'accepted', now);
  }
}
