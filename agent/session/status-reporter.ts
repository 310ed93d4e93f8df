// Task status reports on their way to the managers: the latest status per task, sent in batches
// on whatever session is open, kept until a manager has taken them (so reports made while no
// manager was reachable arrive after the next session opens).
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TaskStatusUpdate } from '../../proto/gen/dispatcher.js';
import type { TaskStatus } from '../../proto/gen/types.js';

/**
 * Reports per request: the latest status per task is kept (so the backlog is at most one per
 * task), and a node with many tasks sends them in requests the dispatcher's queue takes.
 */
export const MAX_REPORTS_PER_REQUEST = 1_000;

export type SendStatus = (updates: TaskStatusUpdate[]) => Promise<void>;

export class StatusReporter {
  private readonly pending = new Map<string, TaskStatus>();
  private timer: NodeJS.Timeout | undefined;
  private inflight = false;
  private closed = false;

  constructor(
    /** The open session's sender, or undefined while there is none. */
    private readonly sender: () => SendStatus | undefined,
    private readonly log: Logger,
    private readonly delayMs = 5,
    private readonly retryMs = 1_000,
  ) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  report(taskId: string, status: TaskStatus): void {
    this.pending.set(taskId, status);
    this.schedule(this.delayMs);
  }

  /** A session opened: send what waited. */
  kick(): void {
    if (this.pending.size) this.schedule(0);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
  }

  private async flush(): Promise<void> {
    if (this.inflight || this.closed || this.pending.size === 0) return;
    const send = this.sender();
    if (!send) return; // kick() on the next session
    const batch: TaskStatusUpdate[] = [];
    for (const [taskId, status] of this.pending) {
      if (batch.length >= MAX_REPORTS_PER_REQUEST) break;
      batch.push({ taskId, status });
    }
    this.inflight = true;
    try {
      await send(batch);
      for (const u of batch) if (this.pending.get(u.taskId) === u.status) this.pending.delete(u.taskId);
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === grpcStatus.PERMISSION_DENIED) {
        // a task no longer ours: resending would be refused forever
        this.log.warn({ err: (err as Error).message }, 'status reports refused by the manager: dropped');
        for (const u of batch) if (this.pending.get(u.taskId) === u.status) this.pending.delete(u.taskId);
      } else {
        this.log.debug({ err: (err as Error).message }, 'status reports not sent yet');
        this.inflight = false;
        this.schedule(this.retryMs);
        return;
      }
    }
    this.inflight = false;
    if (this.pending.size) this.schedule(this.delayMs);
  }
}
