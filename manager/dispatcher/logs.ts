// Task logs for `shoal service logs`: a reader subscribes for some tasks, the broker asks each
// node that runs one of them (over the node's LogSubscriptions stream), and the lines the
// agents publish come back to the reader. Logs never touch the store.
import { randomBytes } from 'node:crypto';
import { LogLine_Stream, type LogSubscription, type PublishLogsMessage } from '../../proto/gen/dispatcher.js';
import { status } from '@grpc/grpc-js';
import type { StreamSink } from './dispatcher.js';
import { DispatcherRefusal } from './errors.js';

/**
 * Bytes of lines one reader may leave untaken: agents send as fast as they read their files, so a
 * reader that stops (a `logs -f` on a slow link) is closed past this instead of growing the leader.
 */
export const MAX_LOG_BACKLOG_BYTES = 8 * 1024 * 1024;

export interface LogReadRequest {
  taskIds: string[];
  follow: boolean;
  /** Last N lines of each task first; negative = all. */
  tail: number;
}

export interface TaskLogLine {
  taskId: string;
  nodeId: string;
  timeMs: number;
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export interface LogReadHandle {
  /** Nodes that run some of the tasks but have no session now: their lines will not come. */
  unreachable: string[];
  lines: AsyncIterable<TaskLogLine>;
}

interface Subscription {
  id: string;
  /** node -> the task ids asked of it */
  waiting: Map<string, Set<string>>;
  queue: TaskLogLine[];
  /** Bytes of the lines queued. */
  bytes: number;
  wake: (() => void) | undefined;
  ended: boolean;
  /** Why the reader was cut off (it fell behind), thrown once it has taken what was queued. */
  failure?: DispatcherRefusal;
}

export class LogBroker {
  private readonly listeners = new Map<string, StreamSink<LogSubscription>>();
  private readonly subs = new Map<string, Subscription>();

  constructor(private readonly maxBacklogBytes = MAX_LOG_BACKLOG_BYTES) {}

  /** A node opened its LogSubscriptions stream (a newer one replaces the older). */
  listen(nodeId: string, sink: StreamSink<LogSubscription>): void {
    const old = this.listeners.get(nodeId);
    this.listeners.set(nodeId, sink);
    if (old && old !== sink) old.end();
  }

  /** The node's stream or session ended: it answers none of its subscriptions any more. */
  nodeGone(nodeId: string, sink?: StreamSink<LogSubscription>): void {
    if (sink && this.listeners.get(nodeId) !== sink) return;
    this.listeners.delete(nodeId);
    for (const s of this.subs.values()) this.nodeDone(s, nodeId);
  }

  subscribe(req: LogReadRequest, byNode: Map<string, string[]>, signal?: AbortSignal): LogReadHandle {
    const sub: Subscription = { id: randomBytes(8).toString('hex'), waiting: new Map(), queue: [], bytes: 0, wake: undefined, ended: false };
    const unreachable: string[] = [];
    for (const [nodeId, taskIds] of byNode) {
      const sink = this.listeners.get(nodeId);
      if (!sink) {
        unreachable.push(nodeId);
        continue;
      }
      sub.waiting.set(nodeId, new Set(taskIds));
      sink.write({ id: sub.id, taskIds, follow: req.follow, tail: BigInt(req.tail), close: false });
    }
    this.subs.set(sub.id, sub);
    const close = (): void => this.close(sub);
    signal?.addEventListener('abort', close, { once: true });
    if (sub.waiting.size === 0) this.finish(sub);
    const self = this;
    async function* lines(): AsyncGenerator<TaskLogLine> {
      try {
        for (;;) {
          while (sub.queue.length) {
            const l = sub.queue.shift()!;
            sub.bytes -= l.data.length;
            yield l;
          }
          if (sub.failure) throw sub.failure;
          if (sub.ended) return;
          await new Promise<void>((r) => (sub.wake = r));
        }
      } finally {
        signal?.removeEventListener('abort', close);
        self.close(sub);
      }
    }
    return { unreachable, lines: lines() };
  }

  /** Lines (or the end) from a node; lines of tasks not asked of it are dropped. */
  publish(nodeId: string, msg: PublishLogsMessage): void {
    const sub = this.subs.get(msg.subscriptionId);
    const asked = sub?.waiting.get(nodeId);
    if (!sub || !asked) return;
    for (const l of msg.lines) {
      if (!asked.has(l.taskId)) continue;
      sub.queue.push({ taskId: l.taskId, nodeId, timeMs: Number(l.timeMs), stream: l.stream === LogLine_Stream.STDERR ? 'stderr' : 'stdout', data: Buffer.from(l.data) });
      sub.bytes += l.data.length;
    }
    if (sub.bytes > this.maxBacklogBytes) {
      // the lines queued are dropped with the reader: its memory goes now, not when it reads
      sub.queue = [];
      sub.bytes = 0;
      sub.failure = new DispatcherRefusal(
        status.RESOURCE_EXHAUSTED,
        `log reader fell more than ${this.maxBacklogBytes} bytes behind and was closed; run the command again (with --tail to start from recent lines)`,
      );
      this.close(sub);
      return;
    }
    if (msg.close) this.nodeDone(sub, nodeId);
    else this.poke(sub);
  }

  /** The dispatcher stops: every reader ends. */
  closeAll(): void {
    for (const s of [...this.subs.values()]) this.finish(s);
    this.listeners.clear();
  }

  private nodeDone(sub: Subscription, nodeId: string): void {
    if (!sub.waiting.delete(nodeId)) return;
    if (sub.waiting.size === 0) this.finish(sub);
  }

  private poke(sub: Subscription): void {
    const w = sub.wake;
    sub.wake = undefined;
    w?.();
  }

  private finish(sub: Subscription): void {
    sub.ended = true;
    this.subs.delete(sub.id);
    this.poke(sub);
  }

  /** The reader went away: tell the nodes still sending to stop. */
  private close(sub: Subscription): void {
    for (const nodeId of sub.waiting.keys()) this.listeners.get(nodeId)?.write({ id: sub.id, taskIds: [], follow: false, tail: 0n, close: true });
    sub.waiting.clear();
    this.finish(sub);
  }
}
