// The manager side of a simulated-agent run, in the caller's process: a store (given, or a
// MemoryStore without Raft), the leader's components (replicated and global orchestrators, task
// reaper, scheduler) and a Dispatcher on a real gRPC server on loopback. Agents identify by the
// SIM_NODE_HEADER metadata header: mTLS (manager/ca) is left out of this measurement.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { DispatcherService } from '../../../proto/gen/dispatcher.js';
import { NodeRole } from '../../../proto/gen/types.js';
import { RealClock } from '../../../manager/clock.js';
import { Dispatcher, dispatcherService, type DispatcherOptions } from '../../../manager/dispatcher/index.js';
import { GlobalOrchestrator } from '../../../manager/orchestrator/global/orchestrator.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { TaskReaper } from '../../../manager/orchestrator/task-reaper.js';
import { Scheduler } from '../../../manager/scheduler/scheduler.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { SIM_NODE_HEADER } from './agent.js';

export interface SimManager {
  store: MemoryStore;
  dispatcher: Dispatcher;
  /** host:port of the dispatcher's gRPC server. */
  addr: string;
  close(): Promise<void>;
}

export interface SimManagerOptions {
  store?: MemoryStore;
  dispatcher?: Partial<DispatcherOptions>;
  logger?: Logger;
}

export async function startSimManager(o: SimManagerOptions = {}): Promise<SimManager> {
  const clock = new RealClock();
  const logger = o.logger ?? pino({ level: 'warn' });
  const store = o.store ?? new MemoryStore({ clock });
  const dispatcher = new Dispatcher(store, clock, {
    identify: (call) => {
      const v = call.metadata.get(SIM_NODE_HEADER)[0];
      if (typeof v !== 'string' || !v) throw new Error(`no ${SIM_NODE_HEADER} header`);
      return { nodeId: v, role: NodeRole.WORKER };
    },
    logger,
    ...o.dispatcher,
  });
  const server = new Server({ 'grpc.max_send_message_length': 64 << 20, 'grpc.enable_channelz': 0 });
  server.addService(DispatcherService, dispatcherService(dispatcher));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const ac = new AbortController();
  const components = [
    new ReplicatedOrchestrator(store, clock, { logger }),
    new GlobalOrchestrator(store, clock, { logger }),
    new TaskReaper(store, clock, { logger }),
    new Scheduler(store, clock, { logger }),
  ];
  const runs = [dispatcher.run(ac.signal), ...components.map((c) => c.run(ac.signal))];
  return {
    store,
    dispatcher,
    addr: `127.0.0.1:${port}`,
    async close() {
      ac.abort();
      await Promise.all(runs);
      server.forceShutdown();
    },
  };
}
