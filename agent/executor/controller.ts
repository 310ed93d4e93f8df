// The interface between the step function and whatever runs a task (the container runtime in
// production, a fake in table tests). Each method is idempotent: after an agent restart the
// step function may call one again for a task that already got that far.

export interface ExitInfo {
  exitCode: number;
  oomKilled: boolean;
  /** The signal that killed the process, if one did. */
  signal: string | null;
  /** The health check failed and stopped the container. */
  unhealthy?: boolean;
}

export interface Controller {
  /**
   * Resolves the image and creates the container; throws TaskRejectedError when it cannot run
   * here. When `signal` aborts (the task's desired state changed) before the container is made,
   * it throws the signal's reason and makes nothing.
   */
  prepare(signal?: AbortSignal): Promise<void>;
  /** Starts the prepared container (or finds it already started). */
  start(): Promise<{ containerId: string; pid: number }>;
  /** Resolves when the task's process exits; rejects with the signal's reason if aborted. */
  wait(signal?: AbortSignal): Promise<ExitInfo>;
  /** Stops the task with its stop signal and grace period; nothing if it is not running. */
  shutdown(): Promise<void>;
  /** Removes the container and everything it owns; nothing if there is none. */
  remove(): Promise<void>;
}

/** The task cannot run on this node (image absent, unsupported option): reported as REJECTED. */
export class TaskRejectedError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'TaskRejectedError';
  }
}
