// A deterministic simulation of a Raft cluster: N cores over a simulated network (loss,
// delay, duplication, reordering, symmetric and asymmetric partitions), crashes that lose
// unsynced writes, restarts, membership changes and compaction, with a key-value state
// machine and clients whose history is checked for linearizability. Everything derives from
// one seed, so a failure replays exactly.
import { ConfChange, ConfChangeType, type ConfState, EntryType, type Message, MessageType } from '../../../../proto/gen/raft.js';
import { RaftError, RawNode, type RaftConfig } from '../../../../manager/raft/index.js';
import { fmtMessage } from '../interaction/format.js';
import { Clients, type Member } from './clients.js';
import type { Operation } from './checker.js';
import { SafetyMonitor, SafetyViolation } from './invariants.js';
import { type KvCommand, KvStore } from './kv.js';
import { mulberry32, Rng } from './prng.js';
import { SimStorage } from './storage.js';

const CLUSTER = 'sim';

function inConfig(cs: ConfState, id: bigint): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id) || cs.votersOutgoing.includes(id);
}

export class LivenessFailure extends Error {}

export interface SimOptions {
  seed: number;
  ticks: number;
  quietTicks: number;
}

interface SimNode extends Member {
  storage: SimStorage;
  joined: boolean;        // has been in an applied configuration
  leaderTerm: bigint;     // term in which this node was leader at its last Ready (0 if not)
}

export interface SimStats {
  seed: number; completed: number; unknown: number; failed: number; leaders: number;
  crashes: number; partitions: number; confChanges: number; snapshots: number; messages: number;
}

export class Simulation {
  readonly rng: Rng;
  readonly monitor = new SafetyMonitor();
  readonly trace: string[] = [];
  stats: SimStats;
  private now = 0;
  private nodes = new Map<bigint, SimNode>();
  private net: { at: number; m: Message }[] = [];
  private cut = new Set<string>();
  private readonly clients: Clients;
  private nextId: bigint;
  private faults = true;
  // Per-seed knobs: the schedule explores different regimes.
  private readonly p: {
    loss: number; dup: number; maxDelay: number; crash: number; restart: number; midReadyCrash: number;
    partition: number; heal: number; conf: number; keys: number; preVote: boolean; checkQuorum: boolean;
    maxInflight: number; maxSize: number; snapEvery: bigint; lease: boolean; transfer: number;
  };

  constructor(readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    const r = this.rng;
    this.p = {
      loss: r.pick([0, 0.01, 0.05, 0.15]), dup: r.pick([0, 0.02, 0.1]), maxDelay: r.pick([1, 2, 4]),
      crash: r.pick([0, 0.002, 0.01, 0.04]), restart: r.pick([0.02, 0.1, 0.3]), midReadyCrash: r.pick([0, 0.002, 0.01]),
      partition: r.pick([0, 0.003, 0.01]), heal: r.pick([0.01, 0.05]), conf: r.pick([0, 0.003, 0.01]),
      keys: r.pick([1, 2, 4]), preVote: r.chance(0.5), checkQuorum: r.chance(0.5), lease: false,
      transfer: r.pick([0, 0.002, 0.01]),
      maxInflight: r.pick([1, 4, 64]), maxSize: r.pick([80, 400, 1 << 20]), snapEvery: r.pick([20n, 50n, 1000n]),
    };
    // Lease reads need CheckQuorum; the simulated clocks tick in step, as the lease assumes.
    this.p.lease = this.p.checkQuorum && r.chance(0.5);
    const n = r.pick([1, 3, 3, 5]);
    const voters = Array.from({ length: n }, (_, i) => BigInt(i + 1));
    this.nextId = BigInt(n + 1);
    for (const id of voters) {
      const storage = new SimStorage();
      storage.bootstrap(CLUSTER, voters);
      this.addNode(id, storage);
    }
    const nClients = r.pick([1, 3, 6]);
    this.clients = new Clients(nClients, r, this.p.keys);
    this.stats = { seed: opts.seed, completed: 0, unknown: 0, failed: 0, leaders: 0, crashes: 0, partitions: 0, confChanges: 0, snapshots: 0, messages: 0 };
    this.log(`params ${JSON.stringify({ ...this.p, snapEvery: String(this.p.snapEvery), n, nClients })}`);
  }

  private log(s: string): void {
    this.trace.push(`[t=${this.now}] ${s}`);
    if (this.trace.length > 400 && !process.env.SIM_TRACE_ALL) this.trace.splice(0, 100);
  }

  private config(id: bigint, storage: SimStorage, applied?: bigint): RaftConfig {
    return {
      id, clusterId: CLUSTER, storage: storage.written, heartbeatTicks: 1,
      // Raft's liveness needs the round trip well below the election timeout (§5.6).
      electionTicks: 5 * this.p.maxDelay + 5,
      random: mulberry32(this.rng.int(2 ** 31)), preVote: this.p.preVote, checkQuorum: this.p.checkQuorum,
      maxSizePerMsg: this.p.maxSize, maxInflightMsgs: this.p.maxInflight, maxProposalBytes: 4096,
      readOnly: this.p.lease ? 'lease' : 'safe', applied,
    };
  }

  private addNode(id: bigint, storage: SimStorage): SimNode {
    const node: SimNode = { id, storage, kv: new KvStore(), applied: 0n, removed: false, joined: false, leaderTerm: 0n, reads: new Map() };
    node.rn = new RawNode(this.config(id, storage));
    node.applied = node.rn.status().applied;
    node.joined = inConfig(node.rn.status().config, id);
    this.nodes.set(id, node);
    return node;
  }

  run(): SimStats {
    const total = this.opts.ticks + this.opts.quietTicks;
    const clientsUntil = this.opts.ticks + Math.min(100, this.opts.quietTicks / 2);
    for (this.now = 0; this.now < total; this.now++) {
      if (this.now === this.opts.ticks) this.quiesce();
      for (const n of this.nodes.values()) if (n.rn && !n.removed) n.rn.tick();
      this.deliver();
      for (const n of this.nodes.values()) this.processReady(n);
      if (this.now % 5 === 0) this.checkLogMatching();
      // Clients stop some time after the faults so that convergence can be checked.
      if (this.now < clientsUntil) this.clients.act(this.now, this.nodes);
      if (this.faults) this.injectFaults();
      // A slow regime (window of 1, long delays) may need long to catch a member up.
      if (this.now > clientsUntil + 50 && this.now % 10 === 0 && this.convergence() === undefined) break;
    }
    this.finish();
    return this.stats;
  }

  /** End of the chaotic phase: heal, restart everyone, stop faults; the cluster must converge. */
  private quiesce(): void {
    this.faults = false;
    this.cut.clear();
    this.p.loss = 0;
    this.p.dup = 0;
    for (const n of this.nodes.values()) if (!n.rn && !n.removed) this.restart(n);
    this.log('quiesce: healed, all restarted, no more faults');
  }

  private finish(): void {
    this.clients.finish();
    Object.assign(this.stats, { completed: this.clients.completed, unknown: this.clients.unknown, failed: this.clients.failed });
    this.checkLogMatching();
    if (this.opts.quietTicks > 0) this.checkConverged();
  }

  /** Liveness after the quiet phase: one leader, and every member applied what it committed. */
  private checkConverged(): void {
    const problem = this.convergence();
    if (problem) throw new LivenessFailure(`${problem} after ${this.now - this.opts.ticks} quiet ticks`);
  }

  private convergence(): string | undefined {
    const up = [...this.nodes.values()].filter((n) => n.rn && !n.removed);
    const leaders = up.filter((n) => n.rn!.raft.role === 'leader');
    const top = leaders.sort((a, b) => (a.rn!.raft.term > b.rn!.raft.term ? -1 : 1))[0];
    if (!top) return 'no leader';
    const st = top.rn!.status();
    const members = new Set([...st.config.voters, ...st.config.learners]);
    for (const n of up) {
      if (members.has(n.id) && n.applied !== st.commit) return `member ${n.id} applied ${n.applied}, leader ${top.id} committed ${st.commit}`;
    }
    // Converged: every member's state machine must hold exactly the leader's data.
    const want = JSON.stringify([...top.kv.data].sort());
    for (const n of up) {
      if (members.has(n.id) && JSON.stringify([...n.kv.data].sort()) !== want) {
        throw new SafetyViolation(`state machine safety: member ${n.id}'s data differs from leader ${top.id}'s at index ${n.applied}`);
      }
    }
    return undefined;
  }

  // ---- network ----

  private send(m: Message): void {
    this.stats.messages++;
    if (this.rng.chance(this.p.loss)) {
      // A snapshot goes over a stream whose failure the transport reports (etcd's contract).
      if (m.type === MessageType.MSG_SNAP) this.reportSnapshot(m, false);
      return;
    }
    this.net.push({ at: this.now + 1 + this.rng.int(this.p.maxDelay), m });
    if (this.rng.chance(this.p.dup)) this.net.push({ at: this.now + 1 + this.rng.int(this.p.maxDelay + 2), m: { ...m } });
  }

  private deliver(): void {
    const due: Message[] = [];
    const later: { at: number; m: Message }[] = [];
    for (const x of this.net) {
      if (x.at <= this.now) due.push(x.m);
      else later.push(x);
    }
    this.net = later;
    // Shuffle: messages due at the same tick arrive in any order.
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [due[i], due[j]] = [due[j]!, due[i]!];
    }
    for (const m0 of due) {
      const to = this.nodes.get(m0.to);
      const lost = !to || !to.rn || to.removed || this.cut.has(`${m0.from}>${m0.to}`);
      if (m0.type === MessageType.MSG_SNAP) this.reportSnapshot(m0, !lost);
      if (lost || !to?.rn) continue;
      const m = { ...m0 }; // the receiver may rewrite fields (forwarding)
      try { to.rn.step(m); } catch (e) {
        if (e instanceof RaftError) { this.log(`step error at ${to.id}: ${e.message}`); continue; }
        throw e;
      }
    }
  }

  private reportSnapshot(m: Message, ok: boolean): void {
    const from = this.nodes.get(m.from);
    if (!from?.rn || from.removed) return;
    from.rn.reportSnapshot(m.to, ok);
    this.log(`snapshot ${m.from}->${m.to} at ${m.snapshot!.metadata!.index}: ${ok ? 'delivered' : 'failed'}`);
  }

  // ---- one member's Ready ----

  private processReady(n: SimNode): void {
    const rn = n.rn;
    if (!rn || n.removed || !rn.hasReady()) return;
    const rd = rn.ready();
    const r = rn.raft;
    if (rd.softState) this.log(`${n.id} is ${rd.softState.role} in term ${r.term} (leader ${rd.softState.leader})`);
    if (r.role === 'leader') {
      if (n.leaderTerm !== r.term) {
        this.stats.leaders++;
        this.log(`${n.id} leader of term ${r.term}`);
        this.monitor.newLeader(n.id, r.term, n.storage.written, rd.entries);
      } else {
        this.monitor.leaderAppend(n.id, r.term, n.storage.written, rd.entries);
      }
      this.monitor.leaderSeen(n.id, r.term);
      n.leaderTerm = r.term;
    } else {
      n.leaderTerm = 0n;
    }
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      n.kv = KvStore.deserialize(rd.snapshot.data);
      n.applied = rd.snapshot.metadata!.index;
      if (inConfig(rd.snapshot.metadata!.confState!, n.id)) n.joined = true;
      this.failReads(n);
      this.log(`${n.id} installed snapshot at ${n.applied}`);
    }
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    if (this.faults && this.rng.chance(this.p.midReadyCrash)) {
      this.crash(n, 'after writing, before fsync');
      return;
    }
    if (rd.mustSync) n.storage.sync();
    for (const m of rd.messages) this.send(m);
    for (const e of rd.committedEntries) {
      this.monitor.entryApplied(n.id, e);
      n.applied = e.index;
      if (e.type === EntryType.ENTRY_CONF_CHANGE) {
        const cc = ConfChange.decode(e.data);
        const cs = rn.applyConfChange(cc);
        this.log(`${n.id} applied conf change at ${e.index}: voters=(${cs.voters})${cs.votersOutgoing.length ? `&&(${cs.votersOutgoing})` : ''} learners=(${cs.learners})`);
        const inConf = inConfig(cs, n.id);
        // A joining member replays configurations from before its addition: it is removed
        // only when a configuration drops it after having included it.
        if (inConf) n.joined = true;
        else if (n.joined) n.removed = true;
      } else if (e.data.length) {
        const cmd = JSON.parse(e.data.toString()) as KvCommand;
        const res = n.kv.apply(cmd);
        this.clients.writeApplied(n, cmd, res.ok, res.current);
      }
    }
    for (const rs of rd.readStates) {
      const key = Buffer.from(rs.context).toString();
      const pr = n.reads.get(key);
      if (pr) pr.index = rs.index;
    }
    rn.advance(rd);
    this.clients.serveReads(n);
    if (n.removed) {
      this.log(`${n.id} removed from the cluster: shutting down`);
      this.failReads(n);
      return;
    }
    if (n.applied - n.storage.written.snapshot().metadata!.index >= this.p.snapEvery && n.applied >= n.storage.written.firstIndex()) {
      n.storage.snapshotAndCompact(n.applied, rn.status().config, n.kv.serialize(), 5n);
      this.stats.snapshots++;
    }
  }

  // ---- faults ----

  private injectFaults(): void {
    const r = this.rng;
    const live = [...this.nodes.values()].filter((n) => !n.removed);
    if (r.chance(this.p.crash)) {
      const up = live.filter((n) => n.rn);
      // Favour members with unsynced writes: that is where a missing fsync would show.
      const dirty = up.filter((n) => n.storage.dirty);
      if (dirty.length && r.chance(0.7)) this.crash(r.pick(dirty), 'between Readies');
      else if (up.length) this.crash(r.pick(up), 'between Readies');
    }
    for (const n of live) if (!n.rn && r.chance(this.p.restart)) this.restart(n);
    if (r.chance(this.p.partition)) {
      this.cut.clear();
      const ids = live.map((n) => n.id);
      if (r.chance(0.5)) {
        const side = new Set(ids.filter(() => r.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cut.add(`${a}>${b}`);
        this.log(`partition (${[...side]}) | (${ids.filter((i) => !side.has(i))})`);
      } else {
        // asymmetric: some directed links only
        for (const a of ids) for (const b of ids) if (a !== b && r.chance(0.3)) this.cut.add(`${a}>${b}`);
        this.log(`asymmetric cut ${[...this.cut].join(' ')}`);
      }
      this.stats.partitions++;
    }
    if (this.cut.size && r.chance(this.p.heal)) {
      this.cut.clear();
      this.log('heal');
    }
    if (r.chance(this.p.conf)) this.changeMembership();
    if (r.chance(this.p.transfer)) this.transferLeadership();
  }

  private crash(n: SimNode, when: string): void {
    this.log(`${n.id} crashed ${when}${n.storage.dirty ? ' (losing unsynced writes)' : ''}`);
    this.stats.crashes++;
    n.storage.crash();
    n.rn = undefined;
    n.leaderTerm = 0n;
    this.failReads(n);
    this.clients.memberCrashed(n.id);
  }

  private restart(n: SimNode): void {
    const snap = n.storage.written.snapshot();
    n.kv = KvStore.deserialize(snap.data);
    n.applied = snap.metadata!.index;
    // Replay rebuilds membership history from the snapshot on: so must the joined flag.
    n.joined = inConfig(snap.metadata!.confState!, n.id);
    n.rn = new RawNode(this.config(n.id, n.storage, n.applied));
    this.log(`${n.id} restarted (term ${n.rn.status().term}, commit ${n.rn.status().commit}, applied ${n.applied})`);
  }

  private transferLeadership(): void {
    const leader = [...this.nodes.values()].find((n) => n.rn && !n.removed && n.rn.raft.role === 'leader');
    if (!leader) return;
    const voters = leader.rn!.status().config.voters.filter((id) => id !== leader.id);
    if (!voters.length) return;
    const to = this.rng.pick(voters);
    leader.rn!.transferLeader(to);
    this.log(`${leader.id} transfers leadership to ${to}`);
  }

  private changeMembership(): void {
    const leader = [...this.nodes.values()].find((n) => n.rn && !n.removed && n.rn.raft.role === 'leader');
    if (!leader) return;
    const rn = leader.rn!;
    const st = rn.status();
    const r = this.rng;
    let cc: ConfChange;
    const caughtUp = st.config.learners.find((id) => (st.progress?.get(id)?.match ?? 0n) + 5n >= st.lastIndex);
    if (caughtUp !== undefined) {
      cc = { changes: [{ type: ConfChangeType.CONF_ADD_VOTER, nodeId: caughtUp }], context: Buffer.alloc(0) };
    } else if (st.config.voters.length < 5 && r.chance(0.6)) {
      const id = this.nextId++;
      this.addNode(id, new SimStorage());
      cc = { changes: [{ type: ConfChangeType.CONF_ADD_LEARNER, nodeId: id }], context: Buffer.alloc(0) };
    } else if (st.config.voters.length > 2) {
      const victim = r.pick(st.config.voters);
      cc = { changes: [{ type: ConfChangeType.CONF_REMOVE, nodeId: victim }], context: Buffer.alloc(0) };
      if (r.chance(0.3) && st.config.voters.length < 5) {
        // a joint change: replace a voter with a fresh one in one step
        const id = this.nextId++;
        this.addNode(id, new SimStorage());
        cc.changes.push({ type: ConfChangeType.CONF_ADD_VOTER, nodeId: id });
      }
    } else {
      return;
    }
    try {
      rn.proposeConfChange(cc);
      this.stats.confChanges++;
      this.log(`${leader.id} proposed conf change ${cc.changes.map((c) => `${ConfChangeType[c.type]}:${c.nodeId}`).join(',')}`);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      this.log(`conf change refused: ${e.message}`);
    }
  }

  private checkLogMatching(): void {
    const logs = new Map([...this.nodes.values()].filter((n) => n.rn || !n.removed).map((n) => [n.id, n.storage.written] as const));
    SafetyMonitor.logMatching(logs);
  }

  get history(): Operation[] { return this.clients.history; }

  private failReads(n: SimNode): void {
    n.reads.clear(); // their clients time out
  }

  dumpTrace(): string {
    return this.trace.slice(-60).join('\n') + '\n--- members ---\n' + this.describe();
  }

  describe(): string {
    return [...this.nodes.values()].map((n) => {
      if (n.removed) return `${n.id}: removed`;
      if (!n.rn) return `${n.id}: down`;
      const st = n.rn.status();
      const cs = st.config;
      return `${n.id}: ${st.role} term=${st.term} lead=${st.leader} commit=${st.commit} applied=${n.applied} last=${st.lastIndex} lastTerm=${n.rn.raft.log.lastTerm()} voters=(${cs.voters})${cs.votersOutgoing.length ? `&&(${cs.votersOutgoing})` : ''} learners=(${cs.learners}) elapsed=${n.rn.raft.electionElapsed}/${n.rn.raft.randomizedElectionTimeout}` +
        (st.progress ? ' ' + [...st.progress].map(([id, p]) => `${id}:${p.state}:${p.match}/${p.next}`).join(' ') : '');
    }).join('\n');
  }

  /** For debugging a failing seed: messages in flight. */
  inFlight(): string[] { return this.net.map((x) => `${x.at}: ${fmtMessage(x.m)}`); }
}
