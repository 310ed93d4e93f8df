// The dispatcher: the leader's side of every agent session. It registers nodes, expects their
// heartbeats (marking silent ones DOWN so the orchestrators replace their tasks), streams each
// node its assignments (COMPLETE, then INCREMENTAL from store watches) and batches the agents'
// task status reports into store transactions. Leader-only: run() on election, stop() on loss.
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import type { AssignmentsMessage, LogSubscription, PublishLogsMessage, SessionMessage, SessionRequest, UpdateTaskStatusRequest, WeightedPeer } from '../../proto/gen/dispatcher.js';
import { NodeStatus_State, type Node, type Task } from '../../proto/gen/types.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { MemoryStore, ObjectEvent, ReadonlyDeep } from '../store/index.js';
import { NodeAssignments } from './assignments.js';
import { OverlayEndpoints } from './peers.js';
import { GroupCommit } from './group-commit.js';
import { LogBroker, type LogReadHandle, type LogReadRequest } from './logs.js';
import { status } from '@grpc/grpc-js';
import { DispatcherRefusal, notLeader, notOwner, sessionInvalid, unavailable } from './errors.js';
import { managersFromStore, markNodeDown, registerNode, UnknownNodeError } from './nodes.js';
import { DEFAULT_HEARTBEAT_PERIOD_MS, type DispatcherOptions, type NodeIdentity } from './options.js';
import { StatusBatcher, StatusQueueFullError } from './status-batcher.js';

/** Where the dispatcher writes one stream's messages; end() closes it (with an error, or OK). */
export interface StreamSink<T> {
  write(msg: T): void;
  end(err?: Error): void;
  /** The reader has not taken what was written yet (gRPC flow control): hold back what can wait. */
  backlogged?(): boolean;
  /** Calls fn once when a backlogged stream can take more (not if it ends first). */
  onDrain?(fn: () => void): void;
}

interface Session {
  readonly id: string;
  readonly nodeId: string;
  readonly streams: Set<StreamSink<SessionMessage>>;
  assignments?: { tracker: NodeAssignments; sink: StreamSink<AssignmentsMessage> };
  lastManagers: string;
}

/** Longest stretch the watch backlog is routed without yielding to I/O. */
const DRAIN_SLICE_MS = 50;

export class Dispatcher {
  private readonly log: Logger;
  private readonly sessions = new Map<string, Session>();
  private readonly expiries = new Map<string, TimerHandle>();
  /** Assignment trackers with changes not sent yet (flushed once the watch queue is drained). */
  private readonly dirty = new Set<NodeAssignments>();
  /** Trackers whose stream is backlogged: their changes stay gathered until it drains. */
  private readonly held = new WeakSet<NodeAssignments>();
  private readonly random: () => number;
  private readonly logs = new LogBroker();
  /** Every node's tasks' overlay addresses, for the peer lists sent with assignments. */
  private readonly endpoints = new OverlayEndpoints();
  private batcher: StatusBatcher | undefined;
  /** Nodes with a registration in flight, and how many. */
  private readonly registering = new Map<string, number>();
  private readonly downs: GroupCommit<{ nodeId: string; reason: string }, boolean>;
  private readonly registrations: GroupCommit<{ who: NodeIdentity; req: SessionRequest; addr: string }, ReadonlyDeep<Node>>;
  private stopper: AbortController | undefined;
  private running = false;

  constructor(
    private readonly store: MemoryStore,
    private readonly clock: Clock,
    readonly opts: DispatcherOptions,
  ) {
    this.log = (opts.logger ?? pino({ level: process.env.SHOAL_LOG_LEVEL ?? 'info' })).child({ component: 'dispatcher' });
    this.random = opts.random ?? Math.random;
    // A node that is (re)registering or in session is not down, whatever timer fired earlier:
    // checked when the write is made, since a registration may commit between the two.
    this.downs = new GroupCommit(store, (tx, d) => !this.sessions.has(d.nodeId) && !this.registering.has(d.nodeId) && markNodeDown(tx, d.nodeId, d.reason));
    this.registrations = new GroupCommit(store, (tx, r) => registerNode(tx, r.who, r.req.description, r.addr, opts.registerUnknownNodes ?? true));
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Open sessions, for status output and tests. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  identify(call: Parameters<DispatcherOptions['identify']>[0]): NodeIdentity {
    return this.opts.identify(call);
  }

  /** Serves agents until signal aborts or stop() is called (this manager lost leadership). */
  async run(signal?: AbortSignal): Promise<void> {
    const ac = new AbortController();
    this.stopper = ac;
    const onAbort = (): void => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) ac.abort();
    this.batcher = new StatusBatcher(this.store, this.clock, this.log, this.opts.statusBatchMs ?? 20, this.opts.statusBatchSize ?? 1_000);
    const [nodes, watcher] = this.store.viewAndWatch(
      (tx) => {
        this.endpoints.load(tx);
        return tx.nodes.all();
      },
      {
      filter: (e) => e.kind === 'task' || e.kind === 'node',
      signal: ac.signal,
      // past the bound the queue becomes one reset: every session gets its COMPLETE set again
      onOverflow: 'reset',
    });
    this.running = true;
    // A new leader does not know when nodes last spoke: each gets one full grace period.
    const grace = this.basePeriod() * this.missed();
    for (const n of nodes) if (n.status?.state !== NodeStatus_State.DOWN) this.armExpiry(n.id, grace);
    this.log.info({ nodes: nodes.length, graceMs: grace }, 'dispatcher started');
    let batch: ObjectEvent[] = [];
    try {
      for (;;) {
        const next = await watcher.next();
        if (next.done) break;
        // A backlog of 100,000 task events takes seconds to route: yield to I/O now and then
        // so heartbeats and status reports are served meanwhile (not timed out, not marked down).
        const until = performance.now() + DRAIN_SLICE_MS;
        let more = false;
        for (let e: typeof next.value | undefined = next.value; e; e = watcher.poll()) {
          if (e.type === 'commit') {
            this.route(batch, e.version);
            batch = [];
            if (performance.now() > until) {
              more = true;
              break;
            }
          } else if (e.type === 'reset') {
            batch = [];
            this.store.view((tx) => this.endpoints.load(tx));
            this.resendComplete();
          } else batch.push(e);
        }
        this.flushDirty();
        if (more) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.shutdown();
    }
  }

  stop(): void {
    this.stopper?.abort();
  }

  private shutdown(): void {
    this.running = false;
    for (const t of this.expiries.values()) t.cancel();
    this.expiries.clear();
    this.batcher?.close();
    this.logs.closeAll();
    const gone = notLeader(this.opts.leaderAddr?.());
    for (const s of this.sessions.values()) this.closeSession(s, gone);
    this.sessions.clear();
    this.log.info('dispatcher stopped');
  }

  private ensureRunning(): void {
    if (!this.running) throw notLeader(this.opts.leaderAddr?.());
  }

  private basePeriod(): number {
    const cluster = this.store.view((tx) => tx.clusters.all()[0]);
    const nanos = cluster?.spec?.dispatcher?.heartbeatPeriod?.nanos;
    if (nanos && nanos > 0n) return Number(nanos / 1_000_000n);
    return this.opts.heartbeatPeriodMs ?? DEFAULT_HEARTBEAT_PERIOD_MS;
  }

  private missed(): number {
    return this.opts.missedHeartbeats ?? 3;
  }

  /** The period handed to an agent: the base plus random jitter, so heartbeats spread out. */
  private jitteredPeriod(): number {
    const base = this.basePeriod();
    return Math.round(base * (1 + (this.opts.heartbeatJitter ?? 0.25) * this.random()));
  }

  private armExpiry(nodeId: string, ms: number, reason = 'heartbeat failure'): void {
    this.expiries.get(nodeId)?.cancel();
    this.expiries.set(
      nodeId,
      this.clock.setTimeout(() => void this.expire(nodeId, reason), ms),
    );
  }

  private async expire(nodeId: string, reason: string): Promise<void> {
    this.expiries.delete(nodeId);
    if (!this.running) return;
    const s = this.sessions.get(nodeId);
    if (s) {
      this.sessions.delete(nodeId);
      this.closeSession(s, sessionInvalid(s.id));
    }
    try {
      const changed = await this.downs.add({ nodeId, reason });
      if (changed) this.log.warn({ node: nodeId, reason }, 'node marked down');
    } catch (err) {
      // no quorum or leadership lost: try again a period later unless the node came back
      this.log.warn({ node: nodeId, err }, 'could not mark node down');
      if (this.running && !this.sessions.has(nodeId)) this.armExpiry(nodeId, this.basePeriod());
    }
  }

  private closeSession(s: Session, err: Error): void {
    this.logs.nodeGone(s.nodeId);
    for (const st of s.streams) st.end(err);
    s.streams.clear();
    s.assignments?.sink.end(err);
    s.assignments = undefined;
  }

  private managers(): WeightedPeer[] {
    if (this.opts.managers) return this.opts.managers();
    return this.store.view(managersFromStore);
  }

  private sessionMessage(s: Session, node: ReadonlyDeep<Node> | undefined, period: number): SessionMessage {
    const managers = this.managers();
    s.lastManagers = JSON.stringify(managers);
    return { sessionId: s.id, nodeId: s.nodeId, managers, heartbeatPeriod: { nanos: BigInt(period) * 1_000_000n }, node: node as Node | undefined };
  }

  // ---- the four calls of the Dispatcher service -------------------------------------------

  /** Registers the node and opens its session; later messages follow manager-list changes. */
  async openSession(who: NodeIdentity, req: SessionRequest, addr: string, sink: StreamSink<SessionMessage>): Promise<void> {
    this.ensureRunning();
    let node: ReadonlyDeep<Node>;
    const id = who.nodeId;
    this.registering.set(id, (this.registering.get(id) ?? 0) + 1);
    try {
      node = await this.registrations.add({ who, req, addr });
    } catch (err) {
      // a down mark skipped meanwhile must still happen if the node does not come back
      if (this.running && !this.sessions.has(id) && !this.expiries.has(id)) this.armExpiry(id, this.basePeriod() * this.missed());
      if (err instanceof UnknownNodeError) throw new DispatcherRefusal(status.PERMISSION_DENIED, err.message);
      throw unavailable(`could not register node ${id}: ${(err as Error).message}`);
    } finally {
      const n = (this.registering.get(id) ?? 1) - 1;
      if (n > 0) this.registering.set(id, n);
      else this.registering.delete(id);
    }
    this.ensureRunning();
    const old = this.sessions.get(who.nodeId);
    if (old) this.closeSession(old, sessionInvalid(old.id));
    const s: Session = { id: randomBytes(12).toString('hex'), nodeId: who.nodeId, streams: new Set([sink]), lastManagers: '' };
    this.sessions.set(who.nodeId, s);
    const period = this.jitteredPeriod();
    this.armExpiry(who.nodeId, period * this.missed());
    sink.write(this.sessionMessage(s, node, period));
    this.log.info({ node: who.nodeId, session: s.id, addr, hostname: req.description?.hostname }, 'node session opened');
  }

  /**
   * The agent's session stream went away: unless the node opens a new session within the
   * disconnect grace, it is marked down (its process most likely died).
   */
  sessionStreamClosed(nodeId: string, sink: StreamSink<SessionMessage>): void {
    const s = this.sessions.get(nodeId);
    if (!s || !s.streams.delete(sink) || s.streams.size > 0 || !this.running) return;
    const grace = this.opts.disconnectGraceMs ?? 3_000;
    this.log.info({ node: nodeId, graceMs: grace }, 'node session stream closed');
    this.armExpiry(nodeId, Math.min(grace, this.basePeriod() * this.missed()), 'session closed');
  }

  heartbeat(who: NodeIdentity, sessionId: string): { periodMs: number } {
    this.ensureRunning();
    const s = this.session(who, sessionId);
    // heartbeats alone do not keep a node whose session stream is gone: it must reconnect
    if (s.streams.size === 0) throw sessionInvalid(sessionId);
    const period = this.jitteredPeriod();
    this.armExpiry(who.nodeId, period * this.missed());
    return { periodMs: period };
  }

  /** Sends the node's COMPLETE set now and INCREMENTAL changes as its tasks change. */
  openAssignments(who: NodeIdentity, sessionId: string, sink: StreamSink<AssignmentsMessage>): void {
    this.ensureRunning();
    const s = this.session(who, sessionId);
    s.assignments?.sink.end();
    const tracker = new NodeAssignments(who.nodeId, (m) => sink.write(m), (fn) => this.store.view(fn), this.endpoints);
    s.assignments = { tracker, sink };
    this.store.view((tx) => tracker.sendComplete(tx, this.store.version));
  }

  assignmentsClosed(nodeId: string, sink: StreamSink<AssignmentsMessage>): void {
    const s = this.sessions.get(nodeId);
    if (s?.assignments?.sink === sink) s.assignments = undefined;
  }

  /**
   * Queues the reports for the next batch; resolves once written. A report about another
   * node's task refuses the whole request; one that would move a task backwards is dropped.
   */
  async updateTaskStatus(who: NodeIdentity, req: UpdateTaskStatusRequest): Promise<void> {
    this.ensureRunning();
    this.session(who, req.sessionId);
    this.store.view((tx) => {
      for (const u of req.updates) {
        const t = tx.tasks.get(u.taskId);
        if (t && t.nodeId !== who.nodeId) throw notOwner(who.nodeId, u.taskId);
      }
    });
    const updates = req.updates.filter((u) => u.status).map((u) => ({ taskId: u.taskId, status: u.status! }));
    if (updates.length === 0) return;
    try {
      await this.batcher!.add(who.nodeId, updates);
    } catch (err) {
      if (err instanceof StatusQueueFullError) throw new DispatcherRefusal(status.RESOURCE_EXHAUSTED, err.message);
      throw unavailable(`task status not recorded: ${(err as Error).message}`);
    }
  }

  /** The node's agent listens for log requests on this stream. */
  openLogSubscriptions(who: NodeIdentity, sessionId: string, sink: StreamSink<LogSubscription>): void {
    this.ensureRunning();
    this.session(who, sessionId);
    this.logs.listen(who.nodeId, sink);
  }

  logSubscriptionsClosed(nodeId: string, sink: StreamSink<LogSubscription>): void {
    this.logs.nodeGone(nodeId, sink);
  }

  /** Lines an agent sends for a subscription. */
  publishLogs(who: NodeIdentity, msg: PublishLogsMessage): void {
    this.ensureRunning();
    this.session(who, msg.sessionId);
    this.logs.publish(who.nodeId, msg);
  }

  /**
   * Logs of some tasks from the nodes that run them (the control API's `service logs`). Lines
   * end when every node has sent all (or, with follow, when signal aborts or the reader stops).
   */
  subscribeLogs(req: LogReadRequest, signal?: AbortSignal): LogReadHandle {
    this.ensureRunning();
    const byNode = new Map<string, string[]>();
    this.store.view((tx) => {
      for (const id of req.taskIds) {
        const t = tx.tasks.get(id);
        if (!t?.nodeId) continue;
        const list = byNode.get(t.nodeId) ?? [];
        list.push(id);
        byNode.set(t.nodeId, list);
      }
    });
    return this.logs.subscribe(req, byNode, signal);
  }

  /** Totals of the status batcher (applied, stale, ...) and batches written. */
  statusStats(): { batches: number; queued: number; totals: Readonly<Record<string, number>> } {
    return { batches: this.batcher?.batches ?? 0, queued: this.batcher?.queued ?? 0, totals: { ...(this.batcher?.totals ?? {}) } };
  }

  private session(who: NodeIdentity, sessionId: string): Session {
    const s = this.sessions.get(who.nodeId);
    if (!s || s.id !== sessionId) throw sessionInvalid(sessionId);
    return s;
  }

  // ---- store events ----------------------------------------------------------------------

  private route(events: ObjectEvent[], version: bigint): void {
    let managersMayChange = false;
    const nodesChanged = new Set<string>();
    const networks = new Set<string>();
    for (const e of events) {
      if (e.kind === 'task') {
        const t = e.object as ReadonlyDeep<Task>;
        const before = e.old as ReadonlyDeep<Task> | undefined;
        const deleted = e.type === 'delete';
        for (const n of this.endpoints.taskChanged(t, deleted)) networks.add(n);
        this.taskChanged(t.nodeId, t, deleted, version);
        if (before && before.nodeId !== t.nodeId) this.taskChanged(before.nodeId, t, true, version);
      } else if (e.kind === 'node') {
        const n = e.object as ReadonlyDeep<Node>;
        const before = e.old as ReadonlyDeep<Node> | undefined;
        if (n.managerStatus || before?.managerStatus) managersMayChange = true;
        for (const id of this.endpoints.nodeChanged(n, e.type === 'delete')) networks.add(id);
        if (e.type === 'delete') this.nodeRemoved(n.id);
        else if (before && (before.role !== n.role || JSON.stringify(before.spec) !== JSON.stringify(n.spec))) nodesChanged.add(n.id);
      }
    }
    if (networks.size > 0) this.peersChanged(networks);
    if (!managersMayChange && nodesChanged.size === 0) return;
    const managers = managersMayChange ? JSON.stringify(this.managers()) : '';
    for (const s of this.sessions.values()) {
      if (!nodesChanged.has(s.nodeId) && (!managersMayChange || managers === s.lastManagers)) continue;
      const node = this.store.view((tx) => tx.nodes.get(s.nodeId));
      const msg = this.sessionMessage(s, node, this.basePeriod());
      for (const st of s.streams) st.write(msg);
    }
  }

  private taskChanged(nodeId: string, t: ReadonlyDeep<Task>, deleted: boolean, version: bigint): void {
    const tracker = this.sessions.get(nodeId)?.assignments?.tracker;
    if (tracker?.taskChanged(t, deleted, version)) this.dirty.add(tracker);
  }

  /** Overlay endpoints of these networks changed: the nodes on them get their new peer lists. */
  private peersChanged(networks: Set<string>): void {
    for (const s of this.sessions.values()) {
      const tracker = s.assignments?.tracker;
      if (tracker?.peersChanged(networks)) this.dirty.add(tracker);
    }
  }

  /**
   * Sends each node the changes gathered for it, unless its stream still holds earlier ones (an
   * agent that reads slowly): those stay gathered in the tracker, at most one per task, and go
   * in one message when the stream drains, so a slow agent costs no more than its tasks.
   */
  private flushDirty(): void {
    for (const t of this.dirty) {
      const a = this.sessions.get(t.nodeId)?.assignments;
      if (a?.tracker !== t || !a.sink.backlogged?.() || !a.sink.onDrain) {
        t.flush();
        continue;
      }
      if (this.held.has(t)) continue;
      this.held.add(t);
      a.sink.onDrain(() => {
        this.held.delete(t);
        if (!this.running || this.sessions.get(t.nodeId)?.assignments?.tracker !== t) return;
        this.dirty.add(t);
        this.flushDirty();
      });
    }
    this.dirty.clear();
  }

  /** `node rm`: the node's session ends and it is expected no more. */
  private nodeRemoved(nodeId: string): void {
    this.expiries.get(nodeId)?.cancel();
    this.expiries.delete(nodeId);
    const s = this.sessions.get(nodeId);
    if (!s) return;
    this.sessions.delete(nodeId);
    this.closeSession(s, sessionInvalid(s.id));
  }

  private resendComplete(): void {
    for (const s of this.sessions.values()) {
      const a = s.assignments;
      if (a) this.store.view((tx) => a.tracker.sendComplete(tx, this.store.version));
    }
  }
}
