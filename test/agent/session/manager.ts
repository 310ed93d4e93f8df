// A manager's dispatcher for agent tests: MemoryStore, real clock, real gRPC on loopback; the
// node's identity travels in a metadata header (in a daemon it comes from the mTLS certificate).
import { credentials, Metadata, Server, ServerCredentials } from '@grpc/grpc-js';
import { pino } from 'pino';
import { DispatcherService } from '../../../proto/gen/dispatcher.js';
import { NodeRole } from '../../../proto/gen/types.js';
import { RealClock } from '../../../manager/clock.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { Dispatcher, dispatcherService, type DispatcherOptions } from '../../../manager/dispatcher/index.js';

export const NODE_HEADER = 'x-shoal-test-node';

export interface TestManager {
  store: MemoryStore;
  dispatcher: Dispatcher;
  addr: string;
  /** Starts the dispatcher (this manager becomes leader). */
  lead(): void;
  /** Stops the dispatcher (leadership lost); the server keeps answering with refusals. */
  stepDown(): Promise<void>;
  /** The whole manager dies: server gone. */
  kill(): Promise<void>;
}

export async function startManager(opts: Partial<DispatcherOptions> = {}, store = new MemoryStore()): Promise<TestManager> {
  const dispatcher = new Dispatcher(store, new RealClock(), {
    identify: (call) => {
      const v = call.metadata.get(NODE_HEADER)[0];
      if (typeof v !== 'string' || !v) throw new Error(`no ${NODE_HEADER} header`);
      return { nodeId: v, role: NodeRole.WORKER };
    },
    heartbeatPeriodMs: 500,
    statusBatchMs: 5,
    logger: pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' }),
    ...opts,
  });
  const server = new Server();
  server.addService(DispatcherService, dispatcherService(dispatcher));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  let ac: AbortController | undefined;
  let running: Promise<void> | undefined;
  const stepDown = async (): Promise<void> => {
    ac?.abort();
    await running;
    ac = undefined;
  };
  return {
    store,
    dispatcher,
    addr: `127.0.0.1:${port}`,
    lead() {
      ac = new AbortController();
      running = dispatcher.run(ac.signal);
    },
    stepDown,
    async kill() {
      await stepDown();
      server.forceShutdown();
    },
  };
}

export function nodeMetadata(nodeId: string): Metadata {
  const md = new Metadata();
  md.set(NODE_HEADER, nodeId);
  return md;
}

export const insecure = credentials.createInsecure();

/** Waits (really) until fn holds. */
export async function until(fn: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
