// Keeps the agent in session with some manager: tries the managers in turn, goes straight to
// the leader when a follower names it ("not leader: <addr>"), backs off (with jitter) when none
// answers, and learns the current manager list from the session messages.
import { status as grpcStatus, type ChannelCredentials, type Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DispatcherClient, type AssignmentsMessage, type LogSubscription, type SessionMessage } from '../../proto/gen/dispatcher.js';
import type { NodeDescription } from '../../proto/gen/types.js';
import { ManagerSession } from './manager-session.js';

// A COMPLETE assignments message carries every secret and config a node needs (each up to
// 500 KiB) besides its tasks: gRPC's default 4 MiB receive limit would make such a node
// reconnect forever.
const DISPATCHER_CHANNEL_DEFAULTS: Record<string, number> = { 'grpc.max_receive_message_length': 64 << 20 };

/** The dispatcher's refusal on a follower; the address of the leader follows it. */
export const NOT_LEADER_PREFIX = 'not leader: ';

export interface SessionLoopOptions {
  managers: string[];
  credentials: ChannelCredentials;
  /** Extra metadata on every call (tests identify nodes with it instead of certificates). */
  metadata?: Metadata;
  description: () => NodeDescription;
  onSession(msg: SessionMessage, first: boolean, session: ManagerSession): void;
  onAssignments(msg: AssignmentsMessage): void;
  onLogSubscription?(sub: LogSubscription, session: ManagerSession): void;
  /** Called when a session ends, with why. */
  onDisconnect?(err: Error): void;
  logger: Logger;
  backoff?: { initialMs?: number; maxMs?: number };
  /** gRPC channel options (e.g. grpc.ssl_target_name_override for certificates). */
  channelOptions?: Record<string, string | number>;
}

/** The leader's address in a follower's refusal ('' when unknown); null for other errors. */
export function leaderFrom(err: unknown): string | null {
  const e = err as { code?: number; details?: string };
  if (e?.code !== grpcStatus.UNAVAILABLE || typeof e.details !== 'string' || !e.details.startsWith(NOT_LEADER_PREFIX)) return null;
  return e.details.slice(NOT_LEADER_PREFIX.length).trim();
}

export class SessionLoop {
  private managers: string[];
  private active: ManagerSession | undefined;
  private ac: AbortController | undefined;
  private done: Promise<void> | undefined;

  constructor(private readonly o: SessionLoopOptions) {
    if (o.managers.length === 0) throw new Error('the agent needs at least one manager address');
    this.managers = [...new Set(o.managers)];
  }

  /** The session that is open now (its first message arrived), if any. */
  get session(): ManagerSession | undefined {
    return this.active;
  }

  get managerList(): readonly string[] {
    return this.managers;
  }

  start(): void {
    this.ac = new AbortController();
    this.done = this.loop(this.ac.signal);
  }

  async stop(): Promise<void> {
    this.ac?.abort();
    await this.done;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const initial = this.o.backoff?.initialMs ?? 100;
    const max = this.o.backoff?.maxMs ?? 8_000;
    let idx = 0;
    let delay = 0;
    let preferred: string | undefined;
    let hops = 0;
    while (!signal.aborted) {
      if (delay > 0) await sleep(delay * (0.75 + Math.random() * 0.5), signal);
      if (signal.aborted) break;
      const addr = preferred ?? this.managers[idx % this.managers.length]!;
      preferred = undefined;
      const client = new DispatcherClient(addr, this.o.credentials, { ...DISPATCHER_CHANNEL_DEFAULTS, ...this.o.channelOptions });
      const session = new ManagerSession({
        client,
        addr,
        metadata: this.o.metadata,
        description: this.o.description(),
        logger: this.o.logger,
        handlers: {
          onSession: (m, first) => {
            if (first) this.active = session;
            this.learnManagers(m);
            this.o.onSession(m, first, session);
          },
          onAssignments: (m) => this.o.onAssignments(m),
          onLogSubscription: this.o.onLogSubscription ? (sub, sess) => this.o.onLogSubscription?.(sub, sess) : undefined,
        },
      });
      const opened = Date.now();
      try {
        await session.run(signal);
      } catch (err) {
        this.active = undefined;
        if (signal.aborted) break;
        const leader = leaderFrom(err);
        const lasted = session.sessionId !== '' && Date.now() - opened > 2 * session.periodMs;
        this.o.logger.warn({ manager: addr, err: (err as Error).message, leader: leader ?? undefined }, 'session with manager ended');
        this.o.onDisconnect?.(err as Error);
        if (lasted) hops = 0;
        // straight to the leader a follower names; during an election they may point at each
        // other, so only a couple of hops before the backoff applies again
        if (leader && leader !== addr && hops < 2) {
          hops++;
          delay = 0;
          preferred = leader;
          if (!this.managers.includes(leader)) this.managers.push(leader);
          continue;
        }
        hops = 0;
        idx++;
        delay = lasted ? initial : Math.min(max, delay > 0 ? delay * 2 : initial);
      } finally {
        this.active = undefined;
        client.close();
      }
    }
  }

  private learnManagers(m: SessionMessage): void {
    const fromManagers = m.managers.filter((p) => p.weight > 0 && p.addr).map((p) => p.addr);
    if (fromManagers.length === 0) return;
    this.managers = [...new Set([...fromManagers, ...this.managers])];
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
