// The agent's log publisher is bounded: it stops reading a task's log while the stream to the
// manager is backlogged (grpc flow control), and a tail keeps only the last N lines.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { LogSubscription, PublishLogsMessage } from '../../../proto/gen/dispatcher.js';
import { LogPublisher, type TaskLogEntry } from '../../../agent/session/log-publisher.js';
import type { ManagerSession } from '../../../agent/session/manager-session.js';
import { until } from './manager.js';

/** A stream to the manager that takes messages only while `open` (like a peer that stopped reading). */
function manager(): { stream: Writable; got: PublishLogsMessage[]; release(): void; session: ManagerSession } {
  const got: PublishLogsMessage[] = [];
  let held: (() => void)[] = [];
  let open = false;
  const stream = new Writable({
    objectMode: true,
    highWaterMark: 4,
    write(msg: PublishLogsMessage, _enc, cb) {
      got.push(msg);
      if (open) cb();
      else held.push(cb);
    },
  });
  const session = { sessionId: 's1', publishLogs: () => stream } as unknown as ManagerSession;
  return {
    stream,
    got,
    session,
    release() {
      open = true;
      const h = held;
      held = [];
      for (const cb of h) cb();
    },
  };
}

function lines(n: number, read: { count: number }): AsyncIterable<TaskLogEntry> {
  return (async function* () {
    for (let i = 0; i < n; i++) {
      read.count++;
      yield { time: new Date(0).toISOString(), stream: 'stdout', text: `line ${i}` } as TaskLogEntry;
    }
  })();
}

const sub = (tail: number): LogSubscription => ({ id: 'sub1', taskIds: ['t1'], follow: false, tail: BigInt(tail), close: false });

describe('LogPublisher bounds', () => {
  it('stops reading while the manager does not take what was sent, and goes on when it does', async () => {
    const m = manager();
    const read = { count: 0 };
    const p = new LogPublisher(async () => lines(100_000, read), pino({ level: 'silent' }));
    p.handle(sub(-1), m.session);
    await until(() => read.count > 0, 'reading started');
    await new Promise((r) => setTimeout(r, 200));
    // a few batches of 256 lines, not the whole log
    expect(read.count).toBeLessThan(10 * 256);
    m.release();
    await until(() => m.got.at(-1)?.close === true, 'all sent', 30_000);
    expect(read.count).toBe(100_000);
    expect(m.got.reduce((n, g) => n + g.lines.length, 0)).toBe(100_000);
  });

  it('sends only the last N lines of a tail, in order', async () => {
    const m = manager();
    m.release();
    const read = { count: 0 };
    const p = new LogPublisher(async () => lines(10_000, read), pino({ level: 'silent' }));
    p.handle(sub(3), m.session);
    await until(() => m.got.at(-1)?.close === true, 'sent');
    expect(m.got.flatMap((g) => g.lines.map((l) => Buffer.from(l.data).toString()))).toEqual(['line 9997', 'line 9998', 'line 9999']);
  });
});
