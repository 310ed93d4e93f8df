// Task status reports from every agent, collected for a few milliseconds (or until enough have
// queued) and written in one store transaction: one Raft proposal for many reports.
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TaskStatus } from '../../proto/gen/types.js';
import type { Clock, TimerHandle } from '../clock.js';
import { applyTaskStatus, type MemoryStore, type StatusOutcome } from '../store/index.js';

interface Pending {
  nodeId: string;
  taskId: string;
  status: TaskStatus;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Reports queued while the store is slow (no quorum, a long write) that are still taken: 10
 * batches. Past it a node's reports are refused RESOURCE_EXHAUSTED; its agent keeps the latest
 * status per task and sends again later, so nothing is lost and the leader does not grow.
 */
export const MAX_QUEUED_BATCHES = 10;

/** The status queue is full: the agent should retry later. */
export class StatusQueueFullError extends Error {
  readonly code = status.RESOURCE_EXHAUSTED;
  constructor(readonly queued: number) {
    super(`task status queue full (${queued} reports waiting for the store); the agent retries`);
    this.name = 'StatusQueueFullError';
  }
}

export interface BatchResult {
  counts: Record<StatusOutcome, number>;
}

export class StatusBatcher {
  private queue: Pending[] = [];
  private waiters: Waiter[] = [];
  private timer: TimerHandle | undefined;
  private closed = false;
  /** Totals since creation, for logs and tests. */
  readonly totals: Record<StatusOutcome, number> = { applied: 0, unchanged: 0, stale: 0, missing: 0, 'not-owner': 0 };
  batches = 0;

  constructor(
    private readonly store: MemoryStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly batchMs: number,
    private readonly batchSize: number,
  ) {}

  /** Queues the reports of one node; resolves once they are written (or refused as stale). */
  add(nodeId: string, updates: readonly { taskId: string; status: TaskStatus }[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('dispatcher stopped'));
    if (this.queue.length > 0 && this.queue.length + updates.length > this.batchSize * MAX_QUEUED_BATCHES) return Promise.reject(new StatusQueueFullError(this.queue.length));
    for (const u of updates) this.queue.push({ nodeId, taskId: u.taskId, status: u.status });
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.queue.length >= this.batchSize) this.flushSoon(0);
    else this.flushSoon(this.batchMs);
    return done;
  }

  /** Reports waiting for the next write. */
  get queued(): number {
    return this.queue.length;
  }

  private flushSoon(ms: number): void {
    if (this.timer && ms > 0) return;
    this.timer?.cancel();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
  }

  /**
   * Writes everything queued now, at most batchSize reports per transaction: the queue grows
   * past batchSize while a write is in flight, and one transaction of all of it could exceed the
   * store's proposal size limit (seen at 1,000 agents: 9,000 reports, 1.9 MB, every one refused).
   */
  async flush(): Promise<void> {
    const batch = this.queue;
    const waiters = this.waiters;
    this.queue = [];
    this.waiters = [];
    if (batch.length === 0) {
      for (const w of waiters) w.resolve();
      return;
    }
    const counts: Record<StatusOutcome, number> = { applied: 0, unchanged: 0, stale: 0, missing: 0, 'not-owner': 0 };
    try {
      for (let i = 0; i < batch.length; i += this.batchSize) {
        const chunk = batch.slice(i, i + this.batchSize);
        const part: Record<StatusOutcome, number> = { applied: 0, unchanged: 0, stale: 0, missing: 0, 'not-owner': 0 };
        await this.store.update((tx) => {
          for (const k of Object.keys(part) as StatusOutcome[]) part[k] = 0;
          for (const p of chunk) part[applyTaskStatus(tx, p.taskId, p.status, p.nodeId)]++;
        });
        this.batches++;
        for (const k of Object.keys(part) as StatusOutcome[]) counts[k] += part[k];
      }
      for (const k of Object.keys(counts) as StatusOutcome[]) this.totals[k] += counts[k];
      if (counts.stale || counts['not-owner']) this.log.info({ ...counts }, 'task status reports refused (state would move backwards, or task of another node)');
      for (const w of waiters) w.resolve();
    } catch (err) {
      // chunks already written stay written: the agent resends all, and repeats are dropped as unchanged
      this.log.warn({ err, reports: batch.length }, 'task status batch not written');
      for (const w of waiters) w.reject(err as Error);
    }
  }

  /** Refuses what is queued (the dispatcher is stopping) and every later add(). */
  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    const waiters = this.waiters;
    this.queue = [];
    this.waiters = [];
    for (const w of waiters) w.reject(new Error('dispatcher stopped'));
  }
}
