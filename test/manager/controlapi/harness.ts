// A control API on a real gRPC server (loopback TCP or a unix socket, insecure), over a
// MemoryStore with the real orchestrators and scheduler running, fake nodes in the store, and a
// fake agent that moves assigned tasks to RUNNING (and stopping ones to SHUTDOWN).
import { credentials, Metadata, Server, ServerCredentials, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { pino } from 'pino';
import { ControlClient, ControlService } from '../../../proto/gen/control.js';
import { Cluster, NodeRole, TaskState, TaskStatus, type Task } from '../../../proto/gen/types.js';
import { RealClock } from '../../../manager/clock.js';
import { controlService, type ControlDeps } from '../../../manager/controlapi/index.js';
import { LeaderComponents } from '../../../manager/orchestrator/leader-components.js';
import { applyTaskStatus, MemoryStore, type ReadonlyDeep } from '../../../manager/store/index.js';
import { makeNode, type NodeOpts } from '../store/fixtures.js';

export const ROLE_HEADER = 'x-shoal-test-role';

export interface ControlHarness {
  store: MemoryStore;
  addr: string;
  client: ControlClient;
  /** Stops moving tasks (they stay ASSIGNED: convergence never comes). */
  pauseAgent(): void;
  /** Moves tasks again (from the next commit on). */
  resumeAgent(): void;
  close(): Promise<void>;
}

export interface ControlHarnessOptions {
  /** grpc target to bind, e.g. unix:/tmp/x/shoal.sock (default 127.0.0.1:0). */
  bind?: string;
  nodes?: [string, NodeOpts][];
  deps?: Partial<ControlDeps>;
  store?: MemoryStore;
  /** Run orchestrators, scheduler and the fake agent (default true). */
  components?: boolean;
  /** More services on the same server (e.g. a stand-in Daemon service for CLI tests). */
  /** Server credentials (default insecure). */
  serverCredentials?: ServerCredentials;
  extra?: { definition: ServiceDefinition; implementation: UntypedServiceImplementation }[];
}

/** Refuses callers whose test header says they are workers (stands in for the CA's identity). */
export function headerAuthorize(call: { metadata?: Metadata }): void {
  const role = call.metadata?.get(ROLE_HEADER)[0];
  if (role === 'worker') {
    const err = new Error('node w1 is a worker: only managers may call this') as ServiceError;
    err.code = 7; // PERMISSION_DENIED
    throw err;
  }
}

function step(t: ReadonlyDeep<Task>): TaskState | undefined {
  const state = t.status?.state ?? TaskState.NEW;
  if (!t.nodeId || state < TaskState.ASSIGNED) return undefined;
  if (t.desiredState <= TaskState.RUNNING && state < TaskState.RUNNING) return TaskState.RUNNING;
  if (t.desiredState > TaskState.RUNNING && state <= TaskState.RUNNING) return TaskState.SHUTDOWN;
  return undefined;
}

async function fakeAgent(store: MemoryStore, signal: AbortSignal, paused: () => boolean): Promise<void> {
  // past its bound the watch becomes a reset: one more pass over every task, as after a commit
  const w = store.watch({ signal, filter: (e) => e.kind === 'task', onOverflow: 'reset' });
  for await (const e of w) {
    if ((e.type !== 'commit' && e.type !== 'reset') || paused()) continue;
    await store
      .update((tx) => {
        for (const t of tx.tasks.all()) {
          const next = step(t);
          if (next !== undefined) applyTaskStatus(tx, t.id, TaskStatus.fromPartial({ state: next, timestampMs: BigInt(Date.now()), message: 'fake agent' }));
        }
      })
      .catch(() => undefined); // a conflict with the scheduler: the next commit retries
  }
}

export async function startControl(o: ControlHarnessOptions = {}): Promise<ControlHarness> {
  const store = o.store ?? new MemoryStore();
  await store.update((tx) => {
    if (tx.clusters.all().length === 0) {
      tx.clusters.create(
        Cluster.fromPartial({
          id: 'cluster1',
          spec: { annotations: { name: 'default' }, orchestration: { taskHistoryRetentionLimit: 5 } },
          rootCa: { caCert: Buffer.from('CERT'), caKey: Buffer.from('SECRET-KEY'), caCertHash: 'abc', joinTokens: { worker: 'SWMTKN-w', manager: 'SWMTKN-m' } },
        }),
      );
    }
    for (const [id, opts] of o.nodes ?? [['node1', { hostname: 'alpha', role: NodeRole.MANAGER }], ['node2', { hostname: 'beta' }], ['node3', { hostname: 'gamma' }]]) {
      tx.nodes.create(makeNode(id, opts));
    }
  });
  const ac = new AbortController();
  let paused = false;
  const leader = new LeaderComponents(store, new RealClock(), { logger: pino({ level: 'silent' }) });
  const agentDone = o.components === false ? Promise.resolve() : fakeAgent(store, ac.signal, () => paused);
  if (o.components !== false) leader.start();
  const server = new Server();
  server.addService(
    ControlService,
    controlService({ store, isLeader: () => true, leaderClient: () => null, authorize: (call) => headerAuthorize(call as never), ...o.deps }),
  );
  for (const e of o.extra ?? []) server.addService(e.definition, e.implementation);
  const bind = o.bind ?? '127.0.0.1:0';
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(bind, o.serverCredentials ?? ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const addr = bind.startsWith('unix:') ? bind : `127.0.0.1:${port}`;
  const client = new ControlClient(addr, credentials.createInsecure());
  return {
    store,
    addr,
    client,
    pauseAgent: () => {
      paused = true;
    },
    resumeAgent: () => {
      paused = false;
    },
    close: async () => {
      client.close();
      server.forceShutdown();
      ac.abort();
      await leader.stop();
      await agentDone;
    },
  };
}

/** Promisified unary call on a ControlClient. */
export function call<Req, Res>(client: ControlClient, method: keyof ControlClient & string, req: Req, md = new Metadata()): Promise<Res> {
  const fn = (client as unknown as Record<string, (r: Req, m: Metadata, cb: (e: ServiceError | null, r: Res) => void) => void>)[method]!.bind(client);
  return new Promise((resolve, reject) => fn(req, md, (e, r) => (e ? reject(e) : resolve(r))));
}
