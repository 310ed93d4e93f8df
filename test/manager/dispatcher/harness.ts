// A dispatcher on a real gRPC server on loopback, driven by a fake clock; clients identify
// themselves with a metadata header (the CA's certificate check takes its place in a daemon).
import { credentials, Metadata, Server, ServerCredentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { DispatcherClient, DispatcherService, type AssignmentsMessage, type SessionMessage } from '../../../proto/gen/dispatcher.js';
import { NodeRole } from '../../../proto/gen/types.js';
import { FakeClock } from '../../../manager/clock.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { Dispatcher, dispatcherService, type DispatcherOptions } from '../../../manager/dispatcher/index.js';

export const NODE_HEADER = 'x-shoal-test-node';

export interface Harness {
  store: MemoryStore;
  clock: FakeClock;
  dispatcher: Dispatcher;
  addr: string;
  client(nodeId: string): TestClient;
  start(): void;
  close(): Promise<void>;
}

export async function makeHarness(opts: Partial<DispatcherOptions> = {}, store = new MemoryStore()): Promise<Harness> {
  const clock = new FakeClock();
  const dispatcher = new Dispatcher(store, clock, {
    identify: (call) => {
      const v = call.metadata.get(NODE_HEADER)[0];
      if (typeof v !== 'string' || !v) throw new Error(`no ${NODE_HEADER} header`);
      return { nodeId: v, role: NodeRole.WORKER };
    },
    heartbeatPeriodMs: 1_000,
    heartbeatJitter: 0,
    logger: pino({ level: 'silent' }),
    ...opts,
  });
  const server = new Server();
  server.addService(DispatcherService, dispatcherService(dispatcher));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const addr = `127.0.0.1:${port}`;
  const clients: TestClient[] = [];
  const ac = new AbortController();
  let running: Promise<void> | undefined;
  return {
    store,
    clock,
    dispatcher,
    addr,
    client(nodeId) {
      const c = new TestClient(addr, nodeId);
      clients.push(c);
      return c;
    },
    start() {
      running = dispatcher.run(ac.signal);
    },
    async close() {
      for (const c of clients) c.close();
      ac.abort();
      await running;
      await new Promise<void>((r) => server.tryShutdown(() => r()));
    },
  };
}

/** Collects a server stream's messages and its end. */
export class Collected<T> {
  readonly messages: T[] = [];
  error: ServiceError | undefined;
  ended = false;
  constructor(readonly stream: ClientReadableStream<T>) {
    stream.on('data', (m: T) => this.messages.push(m));
    stream.on('error', (e: ServiceError) => {
      this.error = e;
      this.ended = true;
    });
    stream.on('end', () => {
      this.ended = true;
    });
  }
}

export class TestClient {
  readonly raw: DispatcherClient;
  readonly md = new Metadata();
  constructor(addr: string, nodeId: string) {
    this.raw = new DispatcherClient(addr, credentials.createInsecure());
    this.md.set(NODE_HEADER, nodeId);
  }

  session(hostname = 'h1'): Collected<SessionMessage> {
    return new Collected(this.raw.session({ description: { hostname, platform: { os: 'linux', architecture: 'x86_64' }, resources: undefined, engineLabels: {}, engineVersion: 'test' }, sessionId: '' }, this.md));
  }

  assignments(sessionId: string): Collected<AssignmentsMessage> {
    return new Collected(this.raw.assignments({ sessionId }, this.md));
  }

  heartbeat(sessionId: string): Promise<bigint> {
    return new Promise((resolve, reject) => this.raw.heartbeat({ sessionId }, this.md, (err, res) => (err ? reject(err) : resolve(res!.period!.nanos))));
  }

  updateStatus(sessionId: string, updates: { taskId: string; status: import('../../../proto/gen/types.js').TaskStatus }[]): Promise<void> {
    return new Promise((resolve, reject) => this.raw.updateTaskStatus({ sessionId, updates }, this.md, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.raw.close();
  }
}

/** Waits (really) until fn holds; the clock is fake but gRPC is real I/O. */
export async function until(fn: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
