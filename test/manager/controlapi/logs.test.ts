// ServiceLogs over real gRPC: the control API resolves the service and its tasks and reads the
// lines through a real Dispatcher (its own gRPC server) from simulated agents that answer their
// LogSubscriptions stream with PublishLogs, as agent/ does. Also: a follower forwards the stream
// to the leader, and a write forwarded to a dead leader fails with the clear "no leader" text.
import { credentials, Metadata, status, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient, type ServiceLogsMessage } from '../../../proto/gen/control.js';
import { LogLine_Stream, type LogSubscription, type PublishLogsMessage } from '../../../proto/gen/dispatcher.js';
import { NodeRole, Task, TaskState } from '../../../proto/gen/types.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { NO_LEADER_RETRY } from '../../../manager/controlapi/index.js';
import { makeHarness, until, type Harness, type TestClient } from '../dispatcher/harness.js';
import { makeService } from '../store/fixtures.js';
import { call, startControl, type ControlHarness } from './harness.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An agent's log side: answers each subscription with `lines(taskId)`, and later lines on demand. */
class FakeLogAgent {
  readonly subs: LogSubscription[] = [];
  readonly stop: () => void;
  private readonly open = new Map<string, ClientWritableStream<PublishLogsMessage>>();
  constructor(
    private readonly c: TestClient,
    private readonly sessionId: string,
    lines: (taskId: string) => { text: string; stderr?: boolean }[],
  ) {
    const stream = c.raw.logSubscriptions({ sessionId }, c.md);
    this.stop = () => {
      for (const pub of this.open.values()) pub.end();
      stream.cancel();
    };
    stream.on('error', () => undefined);
    stream.on('data', (s: LogSubscription) => {
      this.subs.push(s);
      if (s.close) {
        this.open.get(s.id)?.end();
        this.open.delete(s.id);
        return;
      }
      const pub = c.raw.publishLogs(c.md, () => undefined);
      const all = s.taskIds.flatMap((taskId) => lines(taskId).map((l) => ({ taskId, timeMs: 1_700_000_000_000n, stream: l.stderr ? LogLine_Stream.STDERR : LogLine_Stream.STDOUT, data: Buffer.from(`${l.text}\n`) })));
      pub.write({ sessionId, subscriptionId: s.id, lines: all, close: !s.follow });
      if (s.follow) this.open.set(s.id, pub);
      else pub.end();
    });
  }

  /** A new line on every followed subscription. */
  say(taskId: string, text: string): void {
    for (const [id, pub] of this.open) pub.write({ sessionId: this.sessionId, subscriptionId: id, lines: [{ taskId, timeMs: 1n, stream: LogLine_Stream.STDOUT, data: Buffer.from(`${text}\n`) }], close: false });
  }
}

interface Setup {
  control: ControlHarness;
  disp: Harness;
  store: MemoryStore;
}

async function setup(): Promise<Setup> {
  const store = new MemoryStore();
  const disp = await makeHarness({}, store);
  cleanups.push(() => disp.close());
  const control = await startControl({
    store,
    components: false,
    nodes: [
      ['n1', { hostname: 'alpha', role: NodeRole.MANAGER }],
      ['n2', { hostname: 'beta' }],
    ],
    deps: { subscribeLogs: (r, s) => disp.dispatcher.subscribeLogs(r, s) },
  });
  cleanups.push(() => control.close());
  disp.start();
  await store.update((tx) => {
    tx.services.create(makeService('svc1', 'web', { replicas: 2 }));
    tx.services.create(makeService('svc2', 'other'));
    for (const [id, slot, nodeId, serviceId] of [['t1', 1, 'n1', 'svc1'], ['t2', 2, 'n2', 'svc1'], ['t3', 1, 'n1', 'svc2']] as const) {
      tx.tasks.create(Task.fromPartial({ id, serviceId, serviceName: serviceId === 'svc1' ? 'web' : 'other', slot, nodeId, desiredState: TaskState.RUNNING, status: { state: TaskState.RUNNING } }));
    }
  });
  return { control, disp, store };
}

async function agent(s: Setup, nodeId: string, hostname: string): Promise<FakeLogAgent> {
  const c = s.disp.client(nodeId);
  const sess = c.session(hostname);
  await until(() => sess.messages.length > 0 || sess.ended, 'session');
  expect(sess.error).toBeUndefined();
  const a = new FakeLogAgent(c, sess.messages[0]!.sessionId, (taskId) => [{ text: `hello from ${taskId}` }, { text: `oops ${taskId}`, stderr: true }]);
  // grpc-js lets a closed channel's calls run on: cancel them so the server can shut down.
  cleanups.push(() => {
    a.stop();
    sess.stream.cancel();
  });
  // Subscriptions reach only nodes whose LogSubscriptions stream the broker has registered
  // (its listener map is private: read here only to wait, never to assert).
  const listeners = (s.disp.dispatcher as unknown as { logs: { listeners: Map<string, unknown> } }).logs.listeners;
  await until(() => listeners.has(nodeId), 'log stream registered');
  return a;
}

function readAll(client: ControlClient, serviceId: string, follow = false, tail = -1n): { msgs: ServiceLogsMessage[]; done: Promise<ServiceError | undefined>; cancel: () => void } {
  const msgs: ServiceLogsMessage[] = [];
  const stream = client.serviceLogs({ serviceId, follow, tail });
  stream.on('data', (m: ServiceLogsMessage) => msgs.push(m));
  const done = new Promise<ServiceError | undefined>((resolve) => {
    stream.on('end', () => resolve(undefined));
    stream.on('error', (e: ServiceError) => resolve(e));
  });
  return { msgs, done, cancel: () => stream.cancel() };
}

const texts = (msgs: ServiceLogsMessage[]): string[] =>
  msgs.flatMap((m) => m.lines.map((l) => `${l.taskId}/${l.slot}@${l.hostname}${l.stderr ? ' err' : ''}: ${Buffer.from(l.data).toString().trim()}`)).sort();

describe('ServiceLogs', () => {
  it("streams every task's lines with slot, host and stream, then ends", async () => {
    const s = await setup();
    await agent(s, 'n1', 'alpha');
    await agent(s, 'n2', 'beta');
    const r = readAll(s.control.client, 'web');
    expect(await r.done).toBeUndefined();
    expect(r.msgs[0]).toMatchObject({ serviceName: 'web', unreachableNodes: [] });
    expect(texts(r.msgs)).toEqual(['t1/1@alpha err: oops t1', 't1/1@alpha: hello from t1', 't2/2@beta err: oops t2', 't2/2@beta: hello from t2']);
  });

  it('names the nodes it cannot reach and still sends the others', async () => {
    const s = await setup();
    await agent(s, 'n1', 'alpha');
    const r = readAll(s.control.client, 'svc1');
    expect(await r.done).toBeUndefined();
    expect(r.msgs[0]!.unreachableNodes).toEqual(['beta']);
    expect(texts(r.msgs)).toEqual(['t1/1@alpha err: oops t1', 't1/1@alpha: hello from t1']);
  });

  it('refuses an unknown service with NOT_FOUND and how to list them', async () => {
    const s = await setup();
    const r = readAll(s.control.client, 'nope');
    const err = await r.done;
    expect(err?.code).toBe(status.NOT_FOUND);
    expect(err?.details).toMatch(/service "nope" not found.*shoal service ls/);
  });

  it('follows new lines until the reader cancels, then tells the agent to stop', async () => {
    const s = await setup();
    const a = await agent(s, 'n1', 'alpha');
    const r = readAll(s.control.client, 'other', true, 0n);
    await until(() => a.subs.length === 1, 'subscription');
    expect(a.subs[0]).toMatchObject({ taskIds: ['t3'], follow: true, tail: 0n });
    await until(() => texts(r.msgs).length === 2, 'first lines');
    a.say('t3', 'later');
    await until(() => texts(r.msgs).includes('t3/1@alpha: later'), 'the followed line');
    r.cancel();
    expect((await r.done)?.code).toBe(status.CANCELLED);
    await until(() => a.subs.some((x) => x.close), 'close sent to the agent');
  });

  it('is forwarded by a follower to the leader', async () => {
    const s = await setup();
    await agent(s, 'n1', 'alpha');
    await agent(s, 'n2', 'beta');
    const toLeader = new ControlClient(s.control.addr, credentials.createInsecure());
    const follower = await startControl({ store: new MemoryStore(), components: false, deps: { isLeader: () => false, leaderClient: () => toLeader } });
    cleanups.push(async () => {
      toLeader.close();
      await follower.close();
    });
    const r = readAll(follower.client, 'web');
    expect(await r.done).toBeUndefined();
    expect(texts(r.msgs)).toHaveLength(4);
  });
});

describe('forwarding to a leader that is gone', () => {
  it('answers a write with the clear no-leader message, not the transport text', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused as a dead leader's would be.
    const dead = new ControlClient('127.0.0.1:1', credentials.createInsecure());
    const follower = await startControl({ components: false, deps: { isLeader: () => false, leaderClient: () => dead } });
    cleanups.push(async () => {
      dead.close();
      await follower.close();
    });
    const err = (await call(follower.client, 'removeService', { serviceId: 'web' }, new Metadata()).catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toBe(NO_LEADER_RETRY);
    const logs = readAll(follower.client, 'web');
    const lerr = await logs.done;
    expect(lerr?.code).toBe(status.UNAVAILABLE);
    expect(lerr?.details).toBe(NO_LEADER_RETRY);
  });
});
