// Bounded queues between the dispatcher and agents: an agent that stops reading its assignments
// gets the changes gathered (one per task) instead of a message per change buffered in the
// leader; a log reader that stops reading is cut off with RESOURCE_EXHAUSTED; the status queue
// refuses reports past its bound (the agent keeps them and retries).
import { status, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AssignmentsType, LogLine_Stream, type AssignmentsMessage, type LogSubscription } from '../../../proto/gen/dispatcher.js';
import { Task, TaskState, TaskStatus } from '../../../proto/gen/types.js';
import { FakeClock } from '../../../manager/clock.js';
import { MemoryStore, type Proposer } from '../../../manager/store/index.js';
import { LogBroker } from '../../../manager/dispatcher/logs.js';
import { MAX_QUEUED_BATCHES, StatusBatcher, StatusQueueFullError } from '../../../manager/dispatcher/status-batcher.js';
import { makeHarness, until, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const TASKS = 100;

function task(id: string, nodeId: string): Task {
  return Task.fromPartial({
    id,
    nodeId,
    serviceId: 'svc1',
    slot: 1,
    desiredState: TaskState.RUNNING,
    spec: { container: { image: 'busybox', args: ['sleep', '100'] } },
    status: { state: TaskState.ASSIGNED, message: 'test' },
  });
}

/** One proposal that gives every task of both nodes a new spec version (a change agents act on). */
async function bump(store: MemoryStore, round: number): Promise<void> {
  await store.update((tx) => {
    for (const t of tx.tasks.all()) tx.tasks.update({ ...t, specVersion: BigInt(round + 1), spec: { ...t.spec!, container: { ...t.spec!.container!, env: [`ROUND=${round}`] } } });
  });
}

describe('assignments to an agent that stops reading', () => {
  it('gathers the changes while its stream is backlogged and sends the latest state once it reads again', async () => {
    const store = new MemoryStore();
    await store.update((tx) => {
      for (let i = 0; i < TASKS; i++) {
        tx.tasks.create(task(`a${i}`, 'n1'));
        tx.tasks.create(task(`b${i}`, 'n2'));
      }
    });
    h = await makeHarness({}, store);
    h.start();
    const stuck = h.client('n1');
    const reader = h.client('n2');
    const s1 = stuck.session('h1');
    const s2 = reader.session('h2');
    await until(() => s1.messages.length > 0 && s2.messages.length > 0, 'sessions');
    // n1 reads its COMPLETE set, then stops reading (grpc then stops asking for messages)
    const raw = stuck.raw.assignments({ sessionId: s1.messages[0]!.sessionId }, stuck.md);
    let stuckError: ServiceError | undefined;
    raw.on('error', (e: ServiceError) => (stuckError = e));
    const got: AssignmentsMessage[] = [];
    raw.once('data', (m: AssignmentsMessage) => {
      got.push(m);
      raw.pause();
    });
    await until(() => got.length === 1, 'complete set of the stuck agent');
    const fast = reader.assignments(s2.messages[0]!.sessionId);
    await until(() => fast.messages.length === 1, 'complete set');

    const rounds = 1_000; // 100,000 task updates on each node
    for (let r = 0; r < rounds; r++) {
      await bump(store, r);
      await new Promise((res) => setImmediate(res));
      // keep the reading agent's heartbeats going: it is not marked down meanwhile
      if (r % 100 === 0) await reader.heartbeat(s2.messages[0]!.sessionId);
    }
    // the reading agent got every round, in order
    const envOf = (m: AssignmentsMessage): string | undefined => m.changes.at(-1)?.task?.spec?.container?.env[0];
    await until(() => fast.messages.length > 0 && envOf(fast.messages.at(-1)!) === `ROUND=${rounds - 1}`, 'last round at the reader', 60_000);

    // the stuck agent reads again: what was buffered for it is a handful of messages, not 1,000,
    // and the last brings every task to the last round
    const latest = new Map<string, string | undefined>();
    for (const c of got[0]!.changes) if (c.task) latest.set(c.task.id, c.task.spec?.container?.env[0]);
    raw.resume();
    raw.on('data', (m: AssignmentsMessage) => {
      got.push(m);
      for (const c of m.changes) if (c.task) latest.set(c.task.id, c.task.spec?.container?.env[0]);
    });
    await until(() => latest.size === TASKS && [...latest.values()].every((e) => e === `ROUND=${rounds - 1}`), 'stuck agent caught up', 60_000);
    expect(stuckError).toBeUndefined();
    expect(got[0]!.type).toBe(AssignmentsType.COMPLETE);
    expect(got.length).toBeLessThan(100);
    // consecutive: each INCREMENTAL applies to the one before
    for (let i = 1; i < got.length; i++) expect(got[i]!.appliesTo).toBe(got[i - 1]!.resultsIn);
    expect(h.dispatcher.sessionCount).toBe(2);
  }, 300_000);
});

describe('log readers', () => {
  it('cuts off a reader that falls more than the bound behind and tells the node to stop', async () => {
    const broker = new LogBroker(1024 * 1024);
    const sent: LogSubscription[] = [];
    broker.listen('n1', { write: (m) => sent.push(m), end: () => undefined });
    const handle = broker.subscribe({ taskIds: ['t1'], follow: true, tail: -1 }, new Map([['n1', ['t1']]]));
    const sub = sent[0]!;
    const line = Buffer.alloc(1000, 'x');
    for (let i = 0; i < 20_000; i++) {
      broker.publish('n1', { sessionId: 's', subscriptionId: sub.id, close: false, lines: [{ taskId: 't1', timeMs: BigInt(i), stream: LogLine_Stream.STDOUT, data: line }] });
    }
    // the node was told to stop at the bound, not after 20 MB
    expect(sent.at(-1)).toMatchObject({ id: sub.id, close: true });
    const read: unknown[] = [];
    const err = await (async () => {
      for await (const l of handle.lines) read.push(l);
    })().then(
      () => undefined,
      (e: unknown) => e as { code: number; message: string },
    );
    expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err?.message).toMatch(/log reader fell more than 1048576 bytes behind and was closed; run the command again/);
    expect(read.length).toBe(0); // its queue was dropped when it was cut off
  });

  it('lets a reader that keeps up read everything', async () => {
    const broker = new LogBroker(64 * 1024);
    const sent: LogSubscription[] = [];
    broker.listen('n1', { write: (m) => sent.push(m), end: () => undefined });
    const handle = broker.subscribe({ taskIds: ['t1'], follow: false, tail: -1 }, new Map([['n1', ['t1']]]));
    const it = handle.lines[Symbol.asyncIterator]();
    let n = 0;
    for (let i = 0; i < 1_000; i++) {
      broker.publish('n1', { sessionId: 's', subscriptionId: sent[0]!.id, close: i === 999, lines: [{ taskId: 't1', timeMs: BigInt(i), stream: LogLine_Stream.STDOUT, data: Buffer.alloc(1000) }] });
      const r = await it.next();
      if (!r.done) n++;
    }
    expect(n).toBe(1_000);
    expect((await it.next()).done).toBe(true);
  });
});

describe('status batches', () => {
  it('refuses reports past the queue bound while the store is slow, and writes the queued ones after', async () => {
    const held: (() => void)[] = [];
    let store: MemoryStore;
    // a log that commits only when told: the store is "slow" until then
    const proposer: Proposer = {
      propose: (data) =>
        new Promise((resolve) => {
          held.push(() => {
            const index = store.version + 1n;
            store.applyCommitted(data, index);
            resolve({ index });
          });
        }),
    };
    store = new MemoryStore({ proposer });
    const clock = new FakeClock();
    const creating = store.update((tx) => {
      for (let i = 0; i < 50; i++) tx.tasks.create(task(`t${i}`, 'n1'));
    });
    held.shift()!();
    await creating;
    const batcher = new StatusBatcher(store, clock, pino({ level: 'silent' }), 20, 10);
    const report = (i: number) => batcher.add('n1', [{ taskId: `t${i % 50}`, status: TaskStatus.fromPartial({ state: TaskState.RUNNING, message: `r${i}` }) }]);
    const first = report(0);
    clock.advance(20); // the first batch is in flight and the store holds it
    await until(() => held.length === 1, 'first write proposed');
    const queued: Promise<void>[] = [];
    for (let i = 1; i <= 10 * MAX_QUEUED_BATCHES; i++) queued.push(report(i));
    expect(batcher.queued).toBe(10 * MAX_QUEUED_BATCHES);
    await expect(report(999)).rejects.toBeInstanceOf(StatusQueueFullError);
    await expect(report(999)).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED, message: /task status queue full \(100 reports waiting for the store\)/ });
    // the store catches up: everything queued is written
    held.shift()!();
    await first;
    clock.advance(20);
    for (let i = 0; i < 20 && queued.length; i++) {
      await until(() => held.length > 0, 'next write');
      held.shift()!();
      if (await Promise.race([Promise.all(queued).then(() => true), new Promise((r) => setTimeout(() => r(false), 20))])) break;
    }
    await Promise.all(queued);
    expect(batcher.queued).toBe(0);
    expect(store.view((tx) => tx.tasks.get('t0')?.status?.state)).toBe(TaskState.RUNNING);
  });
});
