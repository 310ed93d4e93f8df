// Many simulated agents in one process: `connections` gRPC clients (one HTTP/2 connection each)
// shared round-robin by `count` agents, each its own Session with its own node id.
import { credentials } from '@grpc/grpc-js';
import { DispatcherClient } from '../../../proto/gen/dispatcher.js';
import { SimAgent } from './agent.js';

export interface FleetOptions {
  addr: string;
  /** Node ids are `${prefix}${first + i}` zero-padded to 5 digits. */
  prefix?: string;
  first?: number;
  count: number;
  connections?: number;
  startMs?: number;
}

export const simNodeId = (prefix: string, i: number): string => `${prefix}${String(i).padStart(5, '0')}`;

export class SimFleet {
  readonly agents: SimAgent[] = [];
  private readonly clients: DispatcherClient[] = [];

  constructor(o: FleetOptions) {
    const conns = Math.max(1, Math.min(o.connections ?? 4, o.count));
    for (let k = 0; k < conns; k++) {
      // a distinct channel option keeps grpc-js from folding the clients into one subchannel
      this.clients.push(new DispatcherClient(o.addr, credentials.createInsecure(), { 'shoal.sim.connection': k, 'grpc.enable_channelz': 0, 'grpc.max_receive_message_length': 64 << 20 }));
    }
    for (let i = 0; i < o.count; i++) {
      this.agents.push(new SimAgent({ nodeId: simNodeId(o.prefix ?? 'sim-node-', (o.first ?? 0) + i), client: this.clients[i % conns]!, addr: o.addr, startMs: o.startMs }));
    }
  }

  /** Opens every session, a batch at a time so a thousand registrations do not all time out. */
  async start(batch = 100): Promise<void> {
    for (let i = 0; i < this.agents.length; i += batch) {
      await Promise.all(this.agents.slice(i, i + batch).map((a) => a.start()));
    }
  }

  get runningReported(): number {
    let n = 0;
    for (const a of this.agents) n += a.runningReported;
    return n;
  }

  get failures(): number {
    let n = 0;
    for (const a of this.agents) n += a.failures;
    return n;
  }

  /** Why sessions failed: message (numbers stripped) -> count. */
  failureReasons(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.agents) {
      if (!a.sessionError) continue;
      const k = a.sessionError.message.replace(/[0-9.:]+/g, '#').slice(0, 120);
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  }

  get connected(): number {
    return this.agents.filter((a) => a.connected).length;
  }

  stop(): void {
    for (const a of this.agents) a.stop();
    for (const c of this.clients) c.close();
  }
}
