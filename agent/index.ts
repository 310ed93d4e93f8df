// The agent: keeps a session with the managers, runs the tasks they assign to this node with the
// container runtime, and reports every task state change. Containers outlive the agent process;
// a new Agent over the same stateDir and runtime re-adopts them.
import type { ChannelCredentials, Metadata } from '@grpc/grpc-js';
import { existsSync } from 'node:fs';
import { cpus, hostname as osHostname, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { AssignmentChange_Action, AssignmentsType, type AssignmentsMessage, type SessionMessage } from '../proto/gen/dispatcher.js';
import { NodeDescription, type Task, type TaskStatus } from '../proto/gen/types.js';
import { ContainerController, NETNS_PREFIX, TaskNetworks, TaskSet, TaskStateStore, overlayAttachments, taskContainers, taskFilesBeside } from './executor/index.js';
import { OverlayHost } from '../overlay-net/index.js';
import type { ImageStore } from './images/index.js';
import type { ContainerRuntime } from './runtime/index.js';
import { SecretStore, TaskFiles } from './secrets/index.js';
import { LocalVolumes } from './volumes/index.js';
import { LogPublisher, SessionLoop, StatusReporter, type ManagerSession } from './session/index.js';
import { settled } from '../proto/undo.js';

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
  /** Overlay networks: where overlay-net keeps its ledger (SHOAL_ROOT/overlay-net) and where task
   * network namespaces are bound (SHOAL_RUN/netns). Opened on the first session, with the node's
   * address as the managers see it as the underlay address. Absent: tasks on overlay networks
   * are rejected. */
  overlay?: { stateDir: string; netnsDir: string; dataPathPort?: number };
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
  /** The node's overlay networking, once opened and adopted (first session). */
  private networks!: Promise<TaskNetworks>;
  private settleNetworks!: { resolve(n: TaskNetworks): void; reject(e: Error): void };
  private networksOpening = false;
  /** Networks the managers sent peers for (a full update clears the others). */
  private readonly peerNetworks = new Set<string>();

  constructor(private readonly o: AgentOptions) {
    this.log = o.logger.child({ component: 'agent' });
    this.description = o.description ?? hostDescription();
    this.taskFiles = o.runDir
      ? new TaskFiles({ secretsDir: join(o.runDir, 'secrets'), configsDir: join(o.runDir, 'configs'), logger: this.log })
      : taskFilesBeside(o.runtime, this.log);
    this.newNetworksPromise();
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
          networks: this.o.overlay ? () => this.networks : undefined,
          hasTaskNetns: (id) => !!this.o.overlay && existsSync(join(this.o.overlay.netnsDir, `${NETNS_PREFIX}${id}`)),
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
    // the data path writes its ledger while it opens and programs peers: let that finish, so
    // nothing writes under SHOAL_ROOT once stop has returned
    await this.networkWork;
    this.log.info('agent stopped');
  }

  private onSession(m: SessionMessage, first: boolean, s: ManagerSession): void {
    this.o.onSessionMessage?.(m);
    if (!first) return;
    this.id = m.nodeId;
    this.openNetworks(m.node?.status?.addr ?? '');
    this.session = s;
    this.reporter.kick();
    for (const w of this.sessionWaiters.splice(0)) w();
  }

  private newNetworksPromise(): void {
    this.networks = new Promise<TaskNetworks>((resolve, reject) => {
      this.settleNetworks = { resolve, reject };
    });
    void settled(this.networks); // waiters see the error; nobody may be waiting
  }

  /** Opens overlay-net over this node's underlay address and adopts what the tasks it knows need. */
  private openNetworks(underlayAddress: string): void {
    const o = this.o.overlay;
    const tasks = this.tasks;
    if (!o || !tasks || this.networksOpening) return;
    this.networksOpening = true;
    const opening = (async () => {
      const host = await OverlayHost.open({ underlayAddress, stateDir: o.stateDir, dataPathPort: o.dataPathPort, logger: this.log.child({ component: 'overlay-net' }) });
      const networks = new TaskNetworks({ host, netnsDir: o.netnsDir, logger: this.log.child({ component: 'task-networks' }) });
      await networks.adopt(tasks.knownTasks().map((t) => ({ id: t.id, attachments: overlayAttachments(t) })));
      return networks;
    })().then(
      (n) => {
        this.log.info({ underlay: underlayAddress, drivers: n.drivers }, 'overlay networks ready');
        this.settleNetworks.resolve(n);
      },
      (err: Error) => {
        // tasks waiting for it fail; the next session tries again
        this.log.error({ err, underlay: underlayAddress }, 'overlay networks could not be opened');
        this.settleNetworks.reject(err);
        this.newNetworksPromise();
        this.networksOpening = false;
      },
    );
    this.trackNetworkWork(opening);
  }

  private trackNetworkWork(p: Promise<unknown>): void {
    this.networkWork = Promise.all([this.networkWork, settled(p)]); // p's error is logged where it ends
  }

  /** Peer lists of the node's networks (full or the changed ones), handed to the data path. */
  private onPeers(p: NonNullable<AssignmentsMessage['peers']>): void {
    if (!this.o.overlay) return;
    const lists = new Map(p.networks.map((n) => [n.networkId, n.peers]));
    if (p.full) for (const id of this.peerNetworks) if (!lists.has(id)) lists.set(id, []);
    for (const [id, peers] of lists) {
      if (peers.length > 0) this.peerNetworks.add(id);
      else this.peerNetworks.delete(id);
    }
    this.track(
      this.networks.then(async (n) => {
        // tracked once the data path is open: stop waits for it, never for a session to come
        const work = (async () => {
          for (const [id, peers] of lists) {
            await n
              .setPeers(id, peers.map((x) => ({ hostId: x.nodeId, underlayAddress: x.underlayAddress, prefixes: x.prefixes })))
              .catch((err: unknown) => this.log.warn({ network: id, err }, 'programming overlay peers failed'));
          }
        })();
        this.trackNetworkWork(work);
        await work;
      }),
    );
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
    if (m.peers) this.onPeers(m.peers);
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
  /** The data path's opening and peer programming (they write its ledger): stop waits for them. */
  private networkWork: Promise<unknown> = Promise.resolve();
  private track(p: Promise<unknown>): void {
    this.applying = Promise.all([this.applying, settled(p)]); // p's error goes to its own caller
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
