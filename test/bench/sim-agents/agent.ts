// One simulated agent: the real agent's ManagerSession (Session stream, heartbeats at the period
// the manager hands out, Assignments stream) and StatusReporter (latest status per task, one
// batch in flight), with a pretend executor instead of containers: an assigned task is reported
// ACCEPTED and PREPARING at once, STARTING and RUNNING after `startMs`; a task told to stop is
// reported SHUTDOWN. Nothing is ever started. For manager benchmarks at a scale one machine cannot
// run for real.
import { Metadata } from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { AssignmentChange_Action, AssignmentsType, type AssignmentsMessage, type DispatcherClient } from '../../../proto/gen/dispatcher.js';
import { NodeDescription, TaskState, TaskStatus, type Task } from '../../../proto/gen/types.js';
import { ManagerSession, StatusReporter } from '../../../agent/session/index.js';

/** The metadata header that names the node (the bench's identify() reads it instead of mTLS). */
export const SIM_NODE_HEADER = 'x-shoal-sim-node';

export interface SimAgentOptions {
  nodeId: string;
  /** Shared with other simulated agents: many sessions ride one HTTP/2 connection. */
  client: DispatcherClient;
  addr: string;
  /** Simulated time from PREPARING to RUNNING (default 20 ms). */
  startMs?: number;
  logger?: Logger;
}

export class SimAgent {
  /** Task id -> the state this agent last reported. */
  readonly tasks = new Map<string, TaskState>();
  /** Tasks this agent has reported RUNNING, ever (a bench's progress counter). */
  runningReported = 0;
  sessionError: Error | undefined;
  private session: ManagerSession | undefined;
  private readonly reporter: StatusReporter;
  private readonly ac = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly startMs: number;
  private opened = false;

  constructor(private readonly o: SimAgentOptions) {
    this.startMs = o.startMs ?? 20;
    const log = o.logger ?? pino({ level: 'silent' });
    this.reporter = new StatusReporter(() => (this.opened && this.session ? (u) => this.session!.updateTaskStatus(u) : undefined), log);
  }

  get connected(): boolean {
    return this.opened;
  }

  /** Sessions that failed (and were reopened, as a real agent's SessionLoop would). */
  failures = 0;

  /** Opens the session; resolves once the manager has sent the first SessionMessage. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => this.open(resolve, reject));
  }

  private open(resolve: () => void, reject: (e: Error) => void): void {
    const md = new Metadata();
    md.set(SIM_NODE_HEADER, this.o.nodeId);
    const description = NodeDescription.fromPartial({
      hostname: `sim-${this.o.nodeId}`,
      platform: { os: 'linux', architecture: 'x86_64' },
      resources: { nanoCpus: 64_000_000_000n, memoryBytes: 256n << 30n },
      engineVersion: 'simulated',
    });
    const session = new ManagerSession({
      client: this.o.client,
      addr: this.o.addr,
      metadata: md,
      description,
      logger: this.o.logger ?? pino({ level: 'silent' }),
      openTimeoutMs: 60_000,
      handlers: {
        onSession: (_m, first) => {
          if (!first) return;
          this.opened = true;
          this.reporter.kick();
          resolve();
        },
        onAssignments: (m) => this.assignments(m),
      },
    });
    this.session = session;
    session.run(this.ac.signal).catch((err: Error) => {
      this.opened = false;
      if (this.ac.signal.aborted) return reject(err);
      this.failures++;
      this.sessionError = err;
      // reconnect after a pause; the new stream's COMPLETE message resynchronises the tasks
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.open(resolve, reject);
      }, 500);
      this.timers.add(timer);
    });
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.reporter.close();
    this.ac.abort();
  }

  private assignments(m: AssignmentsMessage): void {
    if (m.type === AssignmentsType.COMPLETE) {
      const keep = new Set(m.changes.map((c) => c.task?.id));
      for (const id of this.tasks.keys()) if (!keep.has(id)) this.tasks.delete(id);
    }
    const starting: string[] = [];
    for (const c of m.changes) {
      if (!c.task) continue;
      if (c.action === AssignmentChange_Action.REMOVE) this.tasks.delete(c.task.id);
      else if (this.apply(c.task)) starting.push(c.task.id);
    }
    if (starting.length === 0) return;
    // one timer per message, not per task: the tasks of one message "start" together
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      for (const id of starting) {
        if (this.tasks.get(id) !== TaskState.PREPARING) continue; // stopped or removed meanwhile
        this.report(id, TaskState.STARTING, 'starting (simulated)');
        this.report(id, TaskState.RUNNING, 'started (simulated: no container)');
        this.runningReported++;
      }
    }, this.startMs);
    this.timers.add(timer);
  }

  /** Moves one assigned task on; true when it is a new task now PREPARING. */
  private apply(t: Task): boolean {
    const known = this.tasks.get(t.id);
    if (t.desiredState > TaskState.RUNNING) {
      if (known !== undefined && known < TaskState.SHUTDOWN) this.report(t.id, TaskState.SHUTDOWN, 'shutdown (simulated)');
      return false;
    }
    if (known !== undefined || (t.status?.state ?? 0) > TaskState.ASSIGNED) return false;
    this.report(t.id, TaskState.ACCEPTED, 'accepted (simulated)');
    this.report(t.id, TaskState.PREPARING, 'preparing (simulated)');
    return true;
  }

  private report(taskId: string, state: TaskState, message: string): void {
    this.tasks.set(taskId, state);
    this.reporter.report(taskId, TaskStatus.fromPartial({ state, message, timestampMs: BigInt(Date.now()) }));
  }
}
