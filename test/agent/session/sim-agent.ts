// A simulated agent speaking the real dispatcher protocol (SessionLoop, heartbeats, assignments,
// batched status reports) but running nothing: an assigned task is reported RUNNING at once, a
// task told to stop is reported SHUTDOWN. For tests and benchmarks of the managers at a scale
// one machine cannot run for real (a thousand nodes); it says so in its name.
import type { ChannelCredentials, Metadata } from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { AssignmentChange_Action, AssignmentsType, type AssignmentsMessage } from '../../../proto/gen/dispatcher.js';
import { NodeDescription, TaskState, TaskStatus, type Task } from '../../../proto/gen/types.js';
import { SessionLoop, StatusReporter, type ManagerSession } from '../../../agent/session/index.js';

export interface SimAgentOptions {
  nodeId: string;
  managers: string[];
  credentials: ChannelCredentials;
  metadata?: Metadata;
  /** Capacity the node reports (default 64 CPUs, 256 GiB). */
  description?: NodeDescription;
  logger?: Logger;
}

export class SimulatedAgent {
  /** Task id -> the state this agent last reported. */
  readonly tasks = new Map<string, TaskState>();
  private session: ManagerSession | undefined;
  private readonly loop: SessionLoop;
  private readonly reporter: StatusReporter;

  constructor(o: SimAgentOptions) {
    const log = o.logger ?? pino({ level: 'silent' });
    const description =
      o.description ??
      NodeDescription.fromPartial({
        hostname: `sim-${o.nodeId}`,
        platform: { os: 'linux', architecture: 'x86_64' },
        resources: { nanoCpus: 64_000_000_000n, memoryBytes: 256n << 30n },
      });
    this.reporter = new StatusReporter(() => {
      const s = this.session;
      return s ? (u) => s.updateTaskStatus(u) : undefined;
    }, log);
    this.loop = new SessionLoop({
      managers: o.managers,
      credentials: o.credentials,
      metadata: o.metadata,
      description: () => description,
      logger: log,
      backoff: { initialMs: 50, maxMs: 1_000 },
      onSession: (_m, first, s) => {
        if (!first) return;
        this.session = s;
        this.reporter.kick();
      },
      onAssignments: (m) => this.assignments(m),
      onDisconnect: () => {
        this.session = undefined;
      },
    });
  }

  get connected(): boolean {
    return this.session !== undefined;
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    this.reporter.close();
  }

  private assignments(m: AssignmentsMessage): void {
    if (m.type === AssignmentsType.COMPLETE) {
      const keep = new Set(m.changes.map((c) => c.task?.id));
      for (const id of this.tasks.keys()) if (!keep.has(id)) this.tasks.delete(id);
    }
    for (const c of m.changes) {
      if (!c.task) continue;
      if (c.action === AssignmentChange_Action.REMOVE) this.tasks.delete(c.task.id);
      else this.apply(c.task);
    }
  }

  private apply(t: Task): void {
    const current = this.tasks.get(t.id) ?? t.status?.state ?? TaskState.ASSIGNED;
    if (current > TaskState.RUNNING) return;
    const next = t.desiredState > TaskState.RUNNING ? TaskState.SHUTDOWN : TaskState.RUNNING;
    if (next === current) return;
    this.tasks.set(t.id, next);
    this.reporter.report(t.id, TaskStatus.fromPartial({ state: next, message: next === TaskState.RUNNING ? 'started (simulated)' : 'shutdown (simulated)', timestampMs: BigInt(Date.now()) }));
  }
}
