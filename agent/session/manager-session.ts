// One session with one manager: the Session stream (registration, manager list), heartbeats at
// the period the manager asks for, the Assignments stream, and status reports. run() settles
// when any of them fails, or when heartbeats go unanswered (see heartbeat.ts), and the caller
// moves on (maybe to another manager).
import { Metadata, status as grpcStatus, type ClientReadableStream, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AssignmentsMessage, DispatcherClient, LogSubscription, PublishLogsMessage, SessionMessage, TaskStatusUpdate } from '../../proto/gen/dispatcher.js';
import type { NodeDescription } from '../../proto/gen/types.js';
import { HeartbeatWindow, isTransientHeartbeatError, MissedHeartbeatsError } from './heartbeat.js';

export interface SessionHandlers {
  /** The first message (registration done) and every later one (manager list, node changes). */
  onSession(msg: SessionMessage, first: boolean): void;
  onAssignments(msg: AssignmentsMessage): void;
  /** A manager wants logs of some tasks (or, with close, no more of them). */
  onLogSubscription?(sub: LogSubscription, session: ManagerSession): void;
}

export interface ManagerSessionOptions {
  client: DispatcherClient;
  addr: string;
  metadata?: Metadata;
  description: NodeDescription;
  handlers: SessionHandlers;
  logger: Logger;
  /** How long to wait for the manager's first message (default 10 s). */
  openTimeoutMs?: number;
}

const nanosToMs = (n: bigint | undefined, fallback: number): number => (n && n > 0n ? Number(n / 1_000_000n) : fallback);

export class ManagerSession {
  sessionId = '';
  nodeId = '';
  periodMs = 5_000;
  private readonly md: Metadata;

  constructor(private readonly o: ManagerSessionOptions) {
    this.md = o.metadata ?? new Metadata();
  }

  /** Runs the session until it fails or signal aborts; always rejects with the reason. */
  run(signal: AbortSignal): Promise<never> {
    const { client, handlers, logger } = this.o;
    return new Promise<never>((_, reject) => {
      let done = false;
      let hbTimer: NodeJS.Timeout | undefined;
      let assignments: ClientReadableStream<AssignmentsMessage> | undefined;
      let logSubs: ClientReadableStream<LogSubscription> | undefined;
      const fail = (err: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(hbTimer);
        clearTimeout(openTimer);
        signal.removeEventListener('abort', onAbort);
        session.cancel();
        assignments?.cancel();
        logSubs?.cancel();
        reject(err);
      };
      const onAbort = (): void => fail(new Error('agent stopping'));
      signal.addEventListener('abort', onAbort, { once: true });

      // One heartbeat in flight at a time; a late answer still counts while the manager's grace
      // lasts, a transient failure is retried within it, and once it is over the manager is given
      // up (the loop then tries another).
      const beats = new HeartbeatWindow(Date.now(), this.periodMs);
      const heartbeat = (): void => {
        const deadline = new Date(beats.deadline(Date.now()));
        client.heartbeat({ sessionId: this.sessionId }, this.md, { deadline }, (err: ServiceError | null, res) => {
          if (done) return;
          const at = Date.now();
          if (err) {
            if (!isTransientHeartbeatError(err) || beats.expired(at)) {
              return fail(beats.expired(at) ? new MissedHeartbeatsError(this.o.addr, beats.silentFor(at), this.periodMs, err) : err);
            }
            logger.debug({ manager: this.o.addr, err: err.message }, 'heartbeat failed; retrying within the grace period');
            hbTimer = setTimeout(heartbeat, beats.retryDelay(at));
            return;
          }
          this.periodMs = nanosToMs(res?.period?.nanos, this.periodMs);
          beats.answered(at, this.periodMs);
          hbTimer = setTimeout(heartbeat, this.periodMs);
        });
      };

      const openAssignments = (): void => {
        assignments = client.assignments({ sessionId: this.sessionId }, this.md);
        assignments.on('data', (m: AssignmentsMessage) => {
          if (!done) handlers.onAssignments(m);
        });
        assignments.on('error', (e: Error) => fail(e));
        assignments.on('end', () => fail(new Error('assignments stream ended')));
      };

      const openLogSubscriptions = (): void => {
        if (!handlers.onLogSubscription) return;
        logSubs = client.logSubscriptions({ sessionId: this.sessionId }, this.md);
        logSubs.on('data', (m: LogSubscription) => {
          if (!done) handlers.onLogSubscription?.(m, this);
        });
        // a manager without logs support is still a manager
        logSubs.on('error', (e: ServiceError) => (e.code === grpcStatus.UNIMPLEMENTED ? undefined : fail(e)));
        logSubs.on('end', () => fail(new Error('log subscriptions stream ended')));
      };

      const openTimer = setTimeout(() => fail(new Error(`no session from manager ${this.o.addr} in time`)), this.o.openTimeoutMs ?? 10_000);
      const session = client.session({ description: this.o.description, sessionId: '' }, this.md);
      session.on('data', (m: SessionMessage) => {
        if (done) return;
        const first = !this.sessionId;
        if (first) {
          clearTimeout(openTimer);
          this.sessionId = m.sessionId;
          this.nodeId = m.nodeId;
          this.periodMs = nanosToMs(m.heartbeatPeriod?.nanos, this.periodMs);
          beats.answered(Date.now(), this.periodMs);
          logger.info({ manager: this.o.addr, node: m.nodeId, session: m.sessionId, periodMs: this.periodMs }, 'session opened');
        }
        handlers.onSession(m, first);
        if (first) {
          hbTimer = setTimeout(heartbeat, this.periodMs);
          openAssignments();
          openLogSubscriptions();
        }
      });
      session.on('error', (e: Error) => fail(e));
      session.on('end', () => fail(new Error('session stream ended')));
    });
  }

  /** A stream to send one subscription's log lines on; the callback gets its outcome. */
  publishLogs(done: (err: ServiceError | null) => void): ClientWritableStream<PublishLogsMessage> {
    return this.o.client.publishLogs(this.md, (err) => done(err));
  }

  /** Sends one batch of status reports on this session. */
  updateTaskStatus(updates: TaskStatusUpdate[]): Promise<void> {
    const deadline = new Date(Date.now() + 10_000);
    return new Promise((resolve, reject) =>
      this.o.client.updateTaskStatus({ sessionId: this.sessionId, updates }, this.md, { deadline }, (err) => (err ? reject(err) : resolve())),
    );
  }
}
