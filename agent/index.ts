// The agent: keeps a session with the managers, runs the tasks they assign to this node with the
// container runtime, and reports every task state change. Containers outlive the agent process;
// a new Agent over the same stateDir and runtime re-adopts them.
import type { ChannelCredentials, Metadata } from '@grpc/grpc-js';
import { cpus, hostname as osHostname, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { AssignmentChange_Action, AssignmentsType, type AssignmentsMessage, type SessionMessage } from '../proto/gen/dispatcher.js';
import { NodeDescription, type Task, type TaskStatus } from '../proto/gen/types.js';
import { ContainerController, TaskSet, TaskStateStore, taskContainers, taskFilesBeside } from './executor/index.js';
import type { ImageStore } from './images/index.js';
import type { ContainerRuntime } from './runtime/index.js';
import { SecretStore, TaskFiles } from './secrets/index.js';
import { LocalVolumes } from './volumes/index.js';
import { LogPublisher, SessionLoop, StatusReporter, type ManagerSession } from './session/index.js';

export interface AgentOptions {
  runtime: ContainerRuntime;
  images: ImageStore;
  /** host:port of managers' cluster APIs (default port 4243); more are learned from them. */
  managers: string[];
  credentials: ChannelCredentials;
  /** The agent's own state (SHOAL_ROOT/agent in a real install). */
  stateDir: string;
  logger: Logger;
  /** What the node reports about itself; default: hostname, CPUs and memory of this host. */
  description?: NodeDescription;
  /** Extra metadata on every dispatcher call (tests identify nodes this way instead of mTLS). */
  metadata?: Metadata;
  /** Volatile root (SHOAL_RUN): task secrets go to RUN/secrets, configs to RUN/configs.
   * Default: the parent of the runtime's state directory (SHOAL_RUN/containers). */
  runDir?: string;
  /** Named volumes (SHOAL_ROOT/volumes). Default: beside stateDir (SHOAL_ROOT/agent). */
  volumesDir?: string;
  /** Network of tasks that name neither "host" nor "none" (default host, until overlays exist). */
  defaultNetwork?: 'host' | 'none';
  /** Reconnection backoff; tests shorten it. */
  backoff?: { initialMs?: number; maxMs?: number };
  channelOptions?: Record<string, string | number>;
  /** Every session message (the node object as the managers see it: role, availability). */
  onSessionMessage?: (msg: SessionMessage) => void;
}

export function hostDescription(): NodeDescription {
  return NodeDescription.fromPartial({
    hostname: osHostname(),
    platform: { os: process.platform, architecture: process.arch === 'x64' ? 'x86_64' : process.arch },
    resources: { nanoCpus: BigInt(cpus().length) * 1_000_000_000n, memoryBytes: BigInt(totalmem()) },
    engineVersion: 'shoal',
  });
}

export class Agent {
  private readonly log: Logger;
  private readonly description: NodeDescription;
  private readonly loop: SessionLoop;
  private readonly reporter: StatusReporter;
  private readonly logs: LogPublisher;
  private tasks: TaskSet | undefined;
  /** Secrets and configs sent by the dispatcher: memory only, never written to disk. */
  readonly secrets = new SecretStore();
  readonly taskFiles: TaskFiles;
  readonly volumes: LocalVolumes;
  private session: ManagerSession | undefined;
  private id = '';
  private readonly sessionWaiters: (() => void)[] = [];

  constructor(private readonly o: AgentOptions) {
    this.log = o.logger.child({ component: 'agent' });
    this.description = o.description ?? hostDescription();
    this.taskFiles = o.runDir
      ? new TaskFiles({ secretsDir: join(o.runDir, 'secrets'), configsDir: join(o.runDir, 'configs'), logger: this.log })
      : taskFilesBeside(o.runtime, this.log);
    this.volumes = new LocalVolumes({ root: o.volumesDir ?? join(dirname(o.stateDir), 'volumes'), logger: this.log });
    this.reporter = new StatusReporter(() => {
      const s = this.session;
      return s ? (updates) => s.updateTaskStatus(updates) : undefined;
    }, this.log);
    this.logs = new LogPublisher(async (taskId, opts) => {
      const c = (await taskContainers(o.runtime)).get(taskId);
      return c ? o.runtime.logs(c.id, opts) : undefined;
    }, this.log);
    this.loop = new SessionLoop({
      managers: o.managers,
      credentials: o.credentials,
      metadata: o.metadata,
      description: () => this.description,
      logger: this.log,
      backoff: o.backoff,
      channelOptions: o.channelOptions,
      onSession: (m, first, s) => this.onSession(m, first, s),
      onAssignments: (m) => this.onAssignments(m),
      onLogSubscription: (sub, session) => this.logs.handle(sub, session),
      onDisconnect: () => {
        this.session = undefined;
      },
    });
  }

  /** This node's id, once a manager told it (first session). */
  get nodeId(): string {
    return this.id;
  }

  /** Manager addresses the agent knows (configured, plus those the managers announced). */
  get managers(): readonly string[] {
    return this.loop.managerList;
  }

  get connected(): boolean {
    return this.session !== undefined;
  }

  /** The tasks being run, with their latest status. */
  taskList(): { task: Task; status: TaskStatus }[] {
    return this.tasks?.list() ?? [];
  }

  async start(): Promise<void> {
    this.tasks = new TaskSet({
      controllerFor: (task) =>
        new ContainerController(task, {
          runtime: this.o.runtime,
          images: this.o.images,
          hostname: this.description.hostname || osHostname(),
          nodeId: this.id,
          defaultNetwork: this.o.defaultNetwork ?? 'host',
          logger: this.log,
          secrets: this.secrets,
          taskFiles: this.taskFiles,
          volumes: this.volumes,
        }),
      containerTaskIds: async () => [...(await taskContainers(this.o.runtime)).keys()],
      state: new TaskStateStore(this.o.stateDir),
      report: (id, status) => this.reporter.report(id, status),
      logger: this.log,
    });
    this.loop.start();
    this.log.info({ managers: this.o.managers }, 'agent started');
  }

  /** Resolves once a session is open (tests and the daemon's start-up use it). */
  waitConnected(): Promise<void> {
    if (this.session) return Promise.resolve();
    return new Promise((r) => this.sessionWaiters.push(r));
  }

  /** Ends the session and stops driving tasks; their containers keep running. */
  async stop(): Promise<void> {
    await this.loop.stop();
    this.logs.closeAll();
    this.reporter.close();
    await this.tasks?.detachAll();
    this.log.info('agent stopped');
  }

  private onSession(m: SessionMessage, first: boolean, s: ManagerSession): void {
    this.o.onSessionMessage?.(m);
    if (!first) return;
    this.id = m.nodeId;
    this.session = s;
    this.reporter.kick();
    for (const w of this.sessionWaiters.splice(0)) w();
  }

  /** Task files (secret tmpfs, config dirs) of tasks this node no longer has: what a removal
   * that failed half-way, or a crash between making them and the container, left behind. */
  private async sweepTaskFiles(tasks: TaskSet): Promise<void> {
    const live = new Set(tasks.list().map((t) => t.task.id));
    for (const id of this.taskFiles.taskIds()) {
      if (live.has(id)) continue;
      this.log.warn({ task: id }, 'removing the secrets and configs of a task this node no longer runs');
      await this.taskFiles.release(id).catch((err: unknown) => this.log.warn({ task: id, err }, 'removing leftover task files failed'));
    }
  }

  private onAssignments(m: AssignmentsMessage): void {
    const tasks = this.tasks;
    if (!tasks) return;
    // secrets and configs first (synchronously), so the tasks after them find what they refer to
    if (m.type === AssignmentsType.COMPLETE) {
      this.secrets.replace(m.changes.flatMap((c) => (c.secret ? [c.secret] : [])), m.changes.flatMap((c) => (c.config ? [c.config] : [])));
      this.track(tasks.complete(m.changes.filter((c) => c.task).map((c) => c.task!)).then(() => this.sweepTaskFiles(tasks)));
      return;
    }
    for (const c of m.changes) {
      const remove = c.action === AssignmentChange_Action.REMOVE;
      if (c.secret) {
        if (remove) this.secrets.removeSecret(c.secret.id);
        else this.secrets.putSecret(c.secret);
      } else if (c.config) {
        if (remove) this.secrets.removeConfig(c.config.id);
        else this.secrets.putConfig(c.config);
      } else if (c.task) {
        this.track(remove ? tasks.remove(c.task.id) : tasks.update(c.task));
      }
    }
  }

  private applying: Promise<unknown> = Promise.resolve();
  private track(p: Promise<unknown>): void {
    this.applying = Promise.all([this.applying, p.catch(() => undefined)]);
  }

  /** Resolves once every assignment received so far is applied (tasks added or removed, the
   * COMPLETE set's leftovers and task files swept); the tasks themselves run on. */
  async assignmentsApplied(): Promise<void> {
    let seen: Promise<unknown>;
    do {
      seen = this.applying;
      await seen;
    } while (seen !== this.applying);
  }
}
