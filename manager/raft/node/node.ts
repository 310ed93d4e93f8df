// RaftNode: the driver around the pure core. It owns the ticker, the WAL and the transport, and
// runs one loop: take a Ready, send what may leave now, apply what is durable, start its WAL
// write (the WAL group-commits: one fsync for everything saved while the previous one ran),
// advance, and take the next without waiting for the write. Callers get promises settled by
// what gets applied.
import { randomInt } from 'node:crypto';
import { type ConfChange, ConfChangeType, type ConfState, type Message, MessageType, type Snapshot } from '../../../proto/gen/raft.js';
import { ConfChangeError, NotLeaderError, RawNode, type MemoryLogStorage, type Ready } from '../index.js';
import type { Wal } from '../storage/index.js';
import { GrpcRaftTransport } from '../transport/index.js';
import { boot } from './boot.js';
import { Applier } from './apply.js';
import { wrapProposal } from './envelope.js';
import { NodeStoppedError, RaftTimeoutError } from './errors.js';
import { NODE_DEFAULTS, type NodeLogger, type RaftNodeOptions } from './options.js';

const silent: NodeLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface NodeStatus {
  id: bigint;
  term: bigint;
  leader: bigint;
  role: string;
  commit: bigint;
  applied: bigint;
  members: Map<bigint, string>;
  confState: ConfState | undefined;
  address: string;
}

export type LeaderListener = (leader: bigint, term: bigint) => void;

export class RaftNode<R> {
  private readonly ap: Applier<R>;
  private readonly cfg: typeof NODE_DEFAULTS;
  private readonly log: NodeLogger;
  private readonly listeners = new Set<LeaderListener>();
  private ticker: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private stopped = false;
  private failed = false;
  private leader = 0n;
  private isLeader = false;
  private snapIndex: bigint;
  /** Last log index known to be in this member's WAL (what may be applied, and told as committed). */
  private durable: bigint;
  /** Writes with entries not yet durable, oldest first. */
  private readonly inflight: { first: bigint; last: bigint }[] = [];
  /** Settles once every write issued so far is durable. */
  private lastWrite: Promise<void> = Promise.resolve();
  address = '';

  private constructor(
    private readonly o: RaftNodeOptions<R>,
    private readonly rn: RawNode,
    private readonly storage: MemoryLogStorage,
    private readonly wal: Wal,
    private readonly transport: GrpcRaftTransport,
    members: Map<bigint, string>,
    confState: ConfState | undefined,
    applied: bigint,
    cfg: typeof NODE_DEFAULTS,
    log: NodeLogger,
  ) {
    this.cfg = cfg;
    this.log = log;
    const hooks = {
      applyConfChange: (cc: ConfChange) => rn.applyConfChange(cc),
      addPeer: (id: bigint, addr: string) => transport.addPeer(id, addr),
      removePeer: (id: bigint) => transport.removePeer(id),
    };
    this.ap = new Applier(o.id, o.stateMachine, hooks, log, members, applied, confState);
    this.snapIndex = applied;
    this.durable = storage.lastIndex();
  }

  /** Recovers (or bootstraps) the member in `o.dir`, starts serving and ticking. */
  static async start<R>(o: RaftNodeOptions<R>): Promise<RaftNode<R>> {
    const cfg = { ...NODE_DEFAULTS, ...definedOnly(o) } as typeof NODE_DEFAULTS;
    const log = o.logger ?? silent;
    const b = await boot(o, cfg.fsync, cfg.segmentBytes, log);
    let node: RaftNode<R> | undefined;
    const transport = new GrpcRaftTransport({
      id: o.id,
      clusterId: o.clusterId,
      listen: o.listen,
      handler: (m) => node?.receive(m),
      onUnreachable: (id) => node?.rn.reportUnreachable(id),
      onSnapshotStatus: (id, ok) => {
        node?.rn.reportSnapshot(id, ok);
        node?.kick();
      },
      serverCredentials: o.serverCredentials,
      channelCredentials: o.channelCredentials,
      authorize: o.authorizePeer,
      acceptProposal: (from) => node?.acceptsProposalFrom(from) ?? false,
      logger: log,
    });
    const rn = new RawNode({
      id: o.id,
      clusterId: o.clusterId,
      storage: b.storage,
      electionTicks: cfg.electionTicks,
      heartbeatTicks: cfg.heartbeatTicks,
      random: o.random ?? (() => randomInt(1 << 30) / (1 << 30)),
      preVote: cfg.preVote,
      checkQuorum: cfg.checkQuorum,
      maxSizePerMsg: cfg.maxSizePerMsg,
      maxInflightMsgs: cfg.maxInflightMsgs,
      maxProposalBytes: cfg.maxProposalBytes,
      readOnly: cfg.readOnly,
      applied: b.applied,
      forwardProposals: cfg.forwardProposals,
      logger: log,
    });
    node = new RaftNode(o, rn, b.storage, b.wal, transport, b.members, b.confState, b.applied, cfg, log);
    for (const [id, addr] of b.members) transport.addPeer(id, addr);
    try {
      node.address = await transport.start();
    } catch (err) {
      await transport.stop();
      await b.wal.close();
      throw err;
    }
    node.loopDone = node.run().catch((err: unknown) => node!.fatal(err));
    node.ticker = setInterval(() => {
      node!.rn.tick();
      node!.ap.expire(performance.now());
      node!.kick();
    }, cfg.tickMs);
    log.info({ id: o.id.toString(), address: node.address, applied: b.applied.toString() }, 'raft node started');
    return node;
  }

  /** Proposes `data`; resolves with the state machine's result once applied on this member. */
  async propose(data: Uint8Array): Promise<R> {
    this.assertRunning();
    const seq = this.ap.proposals.next();
    const done = this.ap.proposals.wait(seq, performance.now() + this.cfg.requestTimeoutMs, () => new RaftTimeoutError('proposal', this.cfg.requestTimeoutMs));
    try {
      this.rn.propose(wrapProposal(this.o.id, seq, data));
    } catch (err) {
      this.ap.proposals.reject(seq, err as Error);
    }
    this.kick();
    return done;
  }

  /** Linearizable read barrier: resolves once this member has applied everything committed before the call. */
  async readIndex(): Promise<void> {
    this.assertRunning();
    if (this.leader === 0n) throw new NotLeaderError(0n);
    const seq = this.ap.reads.next();
    const done = this.ap.reads.wait(seq, performance.now() + this.cfg.requestTimeoutMs, () => new RaftTimeoutError('read index', this.cfg.requestTimeoutMs));
    const ctx = Buffer.allocUnsafe(8);
    ctx.writeBigUInt64BE(seq);
    try {
      this.rn.readIndex(ctx);
    } catch (err) {
      this.ap.reads.reject(seq, err as Error);
    }
    this.kick();
    return done;
  }

  async addMember(id: bigint, addr: string, opts: { learner?: boolean } = {}): Promise<ConfState> {
    this.transport.addPeer(id, addr); // so the leader can start replicating as soon as it commits
    return this.changeMembers(opts.learner ? ConfChangeType.CONF_ADD_LEARNER : ConfChangeType.CONF_ADD_VOTER, id, addr);
  }

  /** Makes a learner a voter, once the leader sees it caught up (the core refuses it before). */
  async promote(id: bigint): Promise<ConfState> {
    const deadline = Date.now() + this.cfg.requestTimeoutMs;
    for (;;) {
      this.assertRunning();
      const s = this.rn.status();
      const pr = s.progress?.get(id);
      if (!pr || pr.match >= s.commit || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, this.cfg.tickMs));
    }
    // removed while it caught up (demoted at once): adding it as a voter now would bring back a
    // member that is shutting down, and with it a quorum that cannot be reached
    const cs = this.ap.confState;
    if (cs?.voters.includes(id)) return cs;
    if (!cs?.learners.includes(id)) throw new ConfChangeError(`member ${id} is no longer a learner: it was removed before it could be promoted`);
    return this.changeMembers(ConfChangeType.CONF_ADD_VOTER, id, this.ap.members.get(id));
  }

  async removeMember(id: bigint): Promise<ConfState> {
    return this.changeMembers(ConfChangeType.CONF_REMOVE, id, undefined);
  }

  /** Asks the leader to hand over to `to`; resolves when `to` leads. */
  async transferLeadership(to: bigint): Promise<void> {
    this.assertRunning();
    if (this.leader === to) return;
    const ms = this.cfg.requestTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        clearInterval(retry);
        off();
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => finish(new RaftTimeoutError(`leadership transfer to ${to}`, ms)), ms);
      const off = this.onLeaderChange((leader) => {
        if (leader === to) finish();
      });
      const ask = (): void => {
        try {
          this.rn.transferLeader(to);
          this.kick();
        } catch (err) {
          finish(err as Error);
        }
      };
      // the core abandons a transfer after an election timeout (e.g. the transferee had not yet
      // applied its own promotion): ask again until the deadline
      const retry = setInterval(ask, this.cfg.tickMs * this.cfg.electionTicks * 2);
      ask();
    });
  }

  /** Calls `cb(leader, term)` on every change of the known leader (0n: none); returns an unsubscribe. */
  onLeaderChange(cb: LeaderListener): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Ids of the keys this member's WAL and snapshot files on disk are sealed with (the caller
   *  may forget a rotated-out data key once it is not listed). */
  storageKeyIds(): Promise<Set<string>> {
    return this.wal.keyIdsInUse();
  }

  status(): NodeStatus {
    const s = this.rn.status();
    return {
      id: s.id, term: s.term, leader: s.leader, role: s.role, commit: s.commit, applied: this.ap.applied,
      members: new Map(this.ap.members), confState: this.ap.confState, address: this.address,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    this.kick();
    await this.loopDone;
    await this.transport.stop();
    await this.wal.close().catch(() => {});
    this.ap.rejectAll(new NodeStoppedError());
    this.log.info({ id: this.o.id.toString() }, 'raft node stopped');
  }

  private async changeMembers(type: ConfChangeType, id: bigint, addr: string | undefined): Promise<ConfState> {
    this.assertRunning();
    const seq = this.ap.confs.next();
    const done = this.ap.confs.wait(seq, performance.now() + this.cfg.requestTimeoutMs, () => new RaftTimeoutError('membership change', this.cfg.requestTimeoutMs));
    const context = Buffer.from(JSON.stringify({ addr, proposer: this.o.id.toString(), seq: seq.toString() }));
    try {
      this.rn.proposeConfChange({ changes: [{ type, nodeId: id }], context });
    } catch (err) {
      this.ap.confs.reject(seq, err as Error);
    }
    this.kick();
    return done;
  }

  /** Only a leader takes proposals from peers, and only when proposals are forwarded at all,
   *  from a follower (voter or learner) of the configuration it leads. */
  private acceptsProposalFrom(from: bigint): boolean {
    if (!this.cfg.forwardProposals || !this.isLeader || from === this.o.id) return false;
    const cs = this.ap.confState;
    return !!cs && (cs.voters.includes(from) || cs.learners.includes(from));
  }

  private receive(m: Message): void {
    if (this.stopped) return;
    try {
      this.rn.step(m);
    } catch (err) {
      this.log.warn({ from: m.from.toString(), type: m.type, err: (err as Error).message }, 'raft message refused');
    }
    this.kick();
  }

  private kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private assertRunning(): void {
    if (this.stopped) throw new NodeStoppedError();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!this.rn.hasReady(this.durable)) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      // While a write is in flight, what arrives in this turn of the event loop (each request
      // or message is its own callback) is taken as one Ready at the end of the turn: one
      // MsgApp per follower and one WAL save for all of it. A lone write goes at once.
      if (this.inflight.length) await new Promise((r) => setImmediate(r));
      // committed entries come only as far as this member's WAL is durable: the state
      // machine's snapshots must never run ahead of the log (the rest come after the write)
      const rd = this.rn.ready(this.durable);
      if (rd.softState) this.isLeader = rd.softState.role === 'leader';
      if (rd.softState && rd.softState.leader !== this.leader) this.leaderChanged(rd.softState.leader);
      if (rd.snapshot?.metadata && rd.snapshot.metadata.index > 0n) {
        await this.lastWrite; // the snapshot replaces the log: nothing of the old one still in flight
        await this.installSnapshot(rd.snapshot);
      }
      // What needs nothing of this Ready's write goes first: replication, then applying (and
      // so answering callers) what is already durable; sealing and writing come after.
      const { now, late } = this.splitMessages(rd.messages);
      this.transport.send(now);
      this.ap.apply(rd.committedEntries);
      this.ap.noteReads(rd.readStates);
      // The write is started and the loop goes on: proposals that arrive while it is in flight
      // are replicated at once and their entries join the WAL's next write (one fdatasync for
      // all of them). The in-memory log takes the entries now so the core can send them.
      this.startWrite(rd);
      // messages sent after every write issued so far is durable, in order: acks and votes
      // never leave before what they promise is on disk
      if (late.length) this.lastWrite.then(() => void (this.stopped || this.transport.send(late)), () => {}); // a failed write is fatal
      this.rn.advance(rd);
      if (this.ap.applied - this.snapIndex >= BigInt(this.cfg.snapshotEvery)) await this.takeSnapshot();
    }
    await this.lastWrite;
  }

  /** Hands the Ready's entries and hard state to the WAL (group commit) and to the in-memory
   *  log; `durable` follows the writes as they complete. */
  private startWrite(rd: Ready): void {
    if (!rd.entries.length && !rd.hardState) return;
    let span: { first: bigint; last: bigint } | undefined;
    if (rd.entries.length) {
      this.ap.noteOwn(rd.entries);
      span = { first: rd.entries[0]!.index, last: rd.entries[rd.entries.length - 1]!.index };
      // entries from `first` on are replaced or new: not durable until this write is
      if (this.durable >= span.first) this.durable = span.first - 1n;
      this.inflight.push(span);
      this.storage.append(rd.entries);
    }
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    const saved = this.wal.save({ entries: rd.entries, hardState: rd.hardState }, rd.mustSync);
    const done = saved.then(() => {
      if (!span) return;
      // writes complete in the order they were saved
      this.inflight.shift();
      let d = span.last;
      for (const later of this.inflight) if (later.first - 1n < d) d = later.first - 1n;
      this.durable = d;
      this.kick(); // committed entries held back for this write may be applied now
    });
    // a failed write stops the node (fatal); later waiters see the rejection too
    done.catch((err: unknown) => this.fatal(err));
    this.lastWrite = done;
  }

  /** What may leave before this Ready's write is durable. A leader replicates at once (Raft
   *  thesis 10.2.1), but the commit index it tells followers never counts its own entries
   *  before they are durable here: a message with entries carries the commit clamped to what
   *  is durable (a later message carries the rest), one without entries waits for the write. */
  private splitMessages(msgs: Message[]): { now: Message[]; late: Message[] } {
    if (!this.isLeader) return { now: [], late: msgs };
    const now: Message[] = [];
    const late: Message[] = [];
    for (const m of msgs) {
      const replication = m.type === MessageType.MSG_APP || m.type === MessageType.MSG_HEARTBEAT;
      if (!replication) late.push(m);
      else if (m.commit <= this.durable) now.push(m);
      else if (m.type === MessageType.MSG_APP && m.entries.length) now.push({ ...m, commit: this.durable });
      else late.push(m);
    }
    return { now, late };
  }

  private leaderChanged(leader: bigint): void {
    this.leader = leader;
    const term = this.rn.status().term;
    this.log.info({ id: this.o.id.toString(), leader: leader.toString(), term: term.toString() }, 'raft leader changed');
    for (const cb of [...this.listeners]) {
      try {
        cb(leader, term);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'raft leader listener threw');
      }
    }
  }

  private async installSnapshot(snap: Snapshot): Promise<void> {
    await this.wal.saveSnapshot(snap);
    this.storage.applySnapshot(snap);
    this.durable = snap.metadata!.index;
    this.ap.restore(snap);
    this.snapIndex = this.ap.applied;
    this.log.info({ index: this.ap.applied.toString() }, 'raft snapshot installed from the leader');
  }

  private async takeSnapshot(): Promise<void> {
    const applied = this.ap.applied;
    const snap = this.storage.createSnapshot(applied, this.ap.confState, this.ap.snapshotData(), this.o.clusterId);
    await this.wal.saveSnapshot(snap);
    this.snapIndex = applied;
    const compactTo = applied - BigInt(this.cfg.snapshotKeepEntries);
    if (compactTo >= this.storage.firstIndex()) {
      this.storage.compact(compactTo);
      await this.wal.releaseTo(compactTo);
    }
    this.log.info({ index: applied.toString(), compactedTo: compactTo.toString() }, 'raft snapshot taken');
  }

  private fatal(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    // a failed fsync or a broken invariant: continuing could acknowledge what is not durable
    this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'raft node failed; stopping');
    this.ap.rejectAll(err instanceof Error ? err : new Error(String(err)));
    void this.stop();
  }
}

function definedOnly(o: object): object {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
