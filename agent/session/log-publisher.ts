// Answers the managers' log subscriptions: reads the logs of the requested tasks this node runs
// (tail first, then new lines with follow) and streams them back on PublishLogs, ending with a
// close marker. A close from the manager stops the reading. Reading waits while the stream to the
// manager is backlogged (grpc flow control), and a tail keeps only its last N lines, so a big log
// or a slow manager costs the agent a bounded amount of memory.
import type { Logger } from 'pino';
import { LogLine_Stream, type LogLine, type LogSubscription, type PublishLogsMessage } from '../../proto/gen/dispatcher.js';
import type { ManagerSession } from './manager-session.js';

export interface TaskLogEntry {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

/** The log entries of a task on this node, or undefined when it runs no such task. */
export type TaskLogSource = (taskId: string, opts: { follow: boolean; signal: AbortSignal }) => Promise<AsyncIterable<TaskLogEntry> | undefined>;

const BATCH_LINES = 256;

export class LogPublisher {
  private readonly active = new Map<string, AbortController>();

  constructor(
    private readonly source: TaskLogSource,
    private readonly log: Logger,
  ) {}

  handle(sub: LogSubscription, session: ManagerSession): void {
    if (sub.close) {
      this.active.get(sub.id)?.abort();
      return;
    }
    if (this.active.has(sub.id)) return;
    const ac = new AbortController();
    this.active.set(sub.id, ac);
    void this.serve(sub, session, ac).finally(() => this.active.delete(sub.id));
  }

  /** Stops every reading (the agent stops). */
  closeAll(): void {
    for (const ac of this.active.values()) ac.abort();
  }

  private async serve(sub: LogSubscription, session: ManagerSession, ac: AbortController): Promise<void> {
    const stream = session.publishLogs((err) => {
      if (err) ac.abort();
    });
    let batch: LogLine[] = [];
    /** Set while grpc holds more than its buffer for the manager: readers wait on it. */
    let drained: Promise<void> | undefined;
    const aborted = new Promise<void>((r) => ac.signal.addEventListener('abort', () => r(), { once: true }));
    const flush = (close = false): void => {
      if (batch.length === 0 && !close) return;
      const msg: PublishLogsMessage = { sessionId: session.sessionId, subscriptionId: sub.id, lines: batch, close };
      batch = [];
      if (!stream.write(msg) && !drained) {
        drained = Promise.race([new Promise<void>((r) => stream.once('drain', () => r())), aborted]).then(() => {
          drained = undefined;
        });
      }
    };
    const push = (taskId: string, e: TaskLogEntry): Promise<void> | undefined => {
      batch.push({ taskId, timeMs: BigInt(Date.parse(e.time) || Date.now()), stream: e.stream === 'stderr' ? LogLine_Stream.STDERR : LogLine_Stream.STDOUT, data: Buffer.from(e.text) });
      if (batch.length >= BATCH_LINES) flush();
      return drained;
    };
    // with follow, lines come as they are written: send each at once rather than wait for a batch
    const timer = sub.follow ? setInterval(() => flush(), 50) : undefined;
    try {
      await Promise.all(sub.taskIds.map((id) => this.readTask(id, sub, ac.signal, (e) => push(id, e))));
    } catch (err) {
      if (!ac.signal.aborted) this.log.warn({ subscription: sub.id, err: (err as Error).message }, 'reading task logs failed');
    } finally {
      clearInterval(timer);
      try {
        flush(true);
        stream.end();
      } catch {
        // the manager went away
      }
    }
  }

  private async readTask(taskId: string, sub: LogSubscription, signal: AbortSignal, emit: (e: TaskLogEntry) => Promise<void> | undefined): Promise<void> {
    const tail = Number(sub.tail);
    // a tail needs the end of the existing log first (only its last N lines are kept); follow
    // then skips what was already read
    const existing = await this.source(taskId, { follow: false, signal });
    if (!existing) return;
    const ring: TaskLogEntry[] = [];
    let count = 0;
    for await (const e of existing) {
      if (signal.aborted) return;
      if (tail < 0) await emit(e);
      else if (tail > 0) ring[count % tail] = e;
      count++;
    }
    for (let i = Math.max(0, count - Math.max(tail, 0)); i < count && tail > 0; i++) await emit(ring[i % tail]!);
    if (!sub.follow) return;
    const live = await this.source(taskId, { follow: true, signal });
    if (!live) return;
    let skip = count;
    try {
      for await (const e of live) {
        if (signal.aborted) return;
        if (skip > 0) {
          skip--;
          continue;
        }
        await emit(e);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }
}
