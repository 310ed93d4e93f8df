// The interaction environment: several RawNodes driven message by message by scripted
// commands (see testdata/*.txt). Each command returns the text it printed.
import { ConfChange, ConfChangeType, EntryType, type Message, MessageType } from '../../../../proto/gen/raft.js';
import { bootstrapStorage, MemoryLogStorage, RawNode, RaftError, type RaftConfig, type Ready } from '../../../../manager/raft/index.js';
import { newMessage } from '../../../../manager/raft/messages.js';
import { fmtConfChange, fmtEntry, fmtMessage, fmtSnapshot } from './format.js';
import { mulberry32 } from '../sim/prng.js';

export interface Cmd { name: string; args: string[]; kv: Map<string, string> }

interface TestNode { id: bigint; rn: RawNode; storage: MemoryLogStorage; applied: { index: bigint; data: string }[]; cfg: RaftConfig }

export class InteractionEnv {
  nodes = new Map<bigint, TestNode>();
  queue: Message[] = [];
  /** Directed links that drop messages: "from>to". */
  private cut = new Set<string>();
  private out: string[] = [];

  run(c: Cmd): string {
    this.out = [];
    try {
      this.dispatch(c);
    } catch (e) {
      if (e instanceof RaftError) this.p(`error: ${e.name}: ${e.message}`);
      else throw e;
    }
    return this.out.length ? this.out.join('\n') : 'ok';
  }

  private p(s: string): void { this.out.push(s); }

  private node(id: string | undefined): TestNode {
    const n = this.nodes.get(BigInt(id ?? '0'));
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  private ids(c: Cmd): bigint[] {
    return c.args.length ? c.args.map((a) => BigInt(a)) : [...this.nodes.keys()];
  }

  private dispatch(c: Cmd): void {
    switch (c.name) {
      case 'add-nodes': return this.addNodes(c);
      case 'campaign': return this.node(c.args[0]).rn.campaign();
      case 'propose': return this.node(c.args[0]).rn.propose(Buffer.from(c.args.slice(1).join(' ')));
      case 'propose-big': return this.node(c.args[0]).rn.propose(Buffer.alloc(Number(c.args[1]), 'x'));
      case 'propose-conf-change': return this.node(c.args[0]).rn.proposeConfChange(parseConfChange(c.args.slice(1)));
      case 'read-index': return this.node(c.args[0]).rn.readIndex(Buffer.from(c.args[1] ?? ''));
      case 'transfer-leader': return this.node(c.args[0]).rn.transferLeader(BigInt(c.args[1]!));
      case 'report-unreachable': return this.node(c.args[0]).rn.reportUnreachable(BigInt(c.args[1]!));
      case 'report-snapshot': return this.node(c.args[0]).rn.reportSnapshot(BigInt(c.args[1]!), c.args[2] === 'ok');
      case 'tick-election': for (const id of this.ids(c)) this.tickElection(this.nodes.get(id)!); return;
      case 'tick-heartbeat': for (const id of this.ids(c)) this.tickN(this.nodes.get(id)!, this.nodes.get(id)!.cfg.heartbeatTicks); return;
      case 'tick': return this.tickN(this.node(c.args[0]), Number(c.args[1] ?? '1'));
      case 'process-ready': for (const id of this.ids(c)) this.processReady(this.nodes.get(id)!); return;
      case 'deliver-msgs': for (const id of this.ids(c)) this.deliver(id, c.kv.has('drop')); return;
      case 'stabilize': return this.stabilize(this.ids(c));
      case 'partition': return this.partition(c.args);
      case 'cut': return void this.cut.add(`${c.args[0]}>${c.args[1]}`);
      case 'heal': this.cut.clear(); return;
      case 'status': return this.status(this.node(c.args[0]));
      case 'raft-state': return this.raftState();
      case 'raft-log': return this.raftLog(this.node(c.args[0]));
      case 'applied': return void this.p(this.node(c.args[0]).applied.map((a) => a.data).join(' ') || '(none)');
      case 'compact': return this.compact(this.node(c.args[0]), BigInt(c.args[1]!));
      case 'restart': return this.restart(this.node(c.args[0]));
      case 'inject': return this.inject(c);
      default: throw new Error(`unknown command ${c.name}`);
    }
  }

  private makeConfig(id: bigint, storage: MemoryLogStorage, kv: Map<string, string>, applied?: bigint): RaftConfig {
    return {
      id, clusterId: kv.get('cluster') ?? 'test', storage,
      electionTicks: Number(kv.get('election') ?? 10), heartbeatTicks: Number(kv.get('heartbeat') ?? 1),
      random: mulberry32(Number(id) * 7919),
      preVote: kv.get('prevote') === 'true', checkQuorum: kv.get('checkquorum') === 'true',
      maxSizePerMsg: Number(kv.get('max-size') ?? 1 << 20), maxInflightMsgs: Number(kv.get('max-inflight') ?? 256),
      maxProposalBytes: Number(kv.get('max-proposal') ?? 1 << 20),
      readOnly: kv.get('readonly') === 'lease' ? 'lease' : 'safe', applied,
      forwardProposals: kv.get('forward') !== 'false',
    };
  }

  private addNodes(c: Cmd): void {
    const n = Number(c.args[0]);
    const voters = parseIds(c.kv.get('voters'));
    const learners = parseIds(c.kv.get('learners'));
    for (let i = 0; i < n; i++) {
      const id = BigInt(this.nodes.size + 1);
      const storage = new MemoryLogStorage();
      if (voters.length) bootstrapStorage(storage, c.kv.get('cluster') ?? 'test', voters, learners);
      const cfg = this.makeConfig(id, storage, c.kv);
      this.nodes.set(id, { id, rn: new RawNode(cfg), storage, applied: [], cfg });
      const st = this.nodes.get(id)!.rn.status();
      this.p(`INFO ${id} created: term=${st.term} commit=${st.commit} voters=(${st.config.voters.join(',')})${st.config.learners.length ? ` learners=(${st.config.learners.join(',')})` : ''}`);
    }
  }

  private restart(n: TestNode): void {
    // Everything not in storage is lost; the state machine restarts from the snapshot.
    const snap = n.storage.snapshot();
    n.applied = decodeSM(snap.data);
    const cfg = { ...n.cfg, applied: snap.metadata!.index, random: mulberry32(Number(n.id) * 104729) };
    n.rn = new RawNode(cfg);
    this.queue = this.queue.filter((m) => m.to !== n.id);
    const st = n.rn.status();
    this.p(`INFO ${n.id} restarted: term=${st.term} commit=${st.commit} applied=${st.applied} last=${st.lastIndex}`);
  }

  private tickElection(n: TestNode): void {
    const r = n.rn.raft;
    const left = r.role === 'leader' ? r.electionTimeout - r.electionElapsed : r.randomizedElectionTimeout - r.electionElapsed;
    this.tickN(n, Math.max(1, left));
  }

  private tickN(n: TestNode, k: number): void {
    for (let i = 0; i < k; i++) n.rn.tick();
  }

  processReady(n: TestNode): boolean {
    if (!n.rn.hasReady()) return false;
    const rd = n.rn.ready();
    this.p(`> ${n.id} handling Ready`);
    this.printReady(rd);
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      n.applied = decodeSM(rd.snapshot.data);
    }
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    this.queue.push(...rd.messages);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ENTRY_CONF_CHANGE) {
        const cs = n.rn.applyConfChange(ConfChange.decode(e.data));
        this.p(`  INFO ${n.id} applied ${fmtConfChange(ConfChange.decode(e.data))}: voters=(${cs.voters.join(',')})${cs.votersOutgoing.length ? `&&(${cs.votersOutgoing.join(',')})` : ''}${cs.learners.length ? ` learners=(${cs.learners.join(',')})` : ''}${cs.learnersNext.length ? ` learners_next=(${cs.learnersNext.join(',')})` : ''}`);
      } else if (e.data.length) {
        n.applied.push({ index: e.index, data: e.data.toString() });
      }
    }
    n.rn.advance(rd);
    return true;
  }

  private printReady(rd: Ready): void {
    const l: string[] = [];
    if (rd.softState) l.push(`Lead:${rd.softState.leader} State:${rd.softState.role}`);
    if (rd.hardState) l.push(`HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote} Commit:${rd.hardState.commit}`);
    if (rd.snapshot) l.push(fmtSnapshot(rd.snapshot));
    if (rd.entries.length) l.push('Entries:', ...rd.entries.map((e) => '  ' + fmtEntry(e)));
    if (rd.committedEntries.length) l.push('CommittedEntries:', ...rd.committedEntries.map((e) => '  ' + fmtEntry(e)));
    if (rd.messages.length) l.push('Messages:', ...rd.messages.map((m) => '  ' + fmtMessage(m)));
    if (rd.readStates.length) l.push('ReadStates:', ...rd.readStates.map((s) => `  index:${s.index} ctx:${Buffer.from(s.context).toString()}`));
    this.p(`  Ready MustSync=${rd.mustSync}:`);
    for (const s of l) this.p('  ' + s);
  }

  deliver(id: bigint, drop: boolean): boolean {
    const mine = this.queue.filter((m) => m.to === id);
    if (!mine.length) return false;
    this.queue = this.queue.filter((m) => m.to !== id);
    const n = this.nodes.get(id);
    this.p(`> ${id} receiving messages`);
    for (const m of mine) {
      if (drop || !n || this.cut.has(`${m.from}>${m.to}`)) { this.p(`  dropped: ${fmtMessage(m)}`); continue; }
      this.p(`  ${fmtMessage(m)}`);
      try { n.rn.step(m); } catch (e) {
        if (!(e instanceof RaftError)) throw e;
        this.p(`  error: ${e.name}: ${e.message}`);
      }
    }
    return true;
  }

  private stabilize(ids: bigint[]): void {
    for (let round = 0; round < 1000; round++) {
      let any = false;
      for (const id of ids) any = this.processReady(this.nodes.get(id)!) || any;
      for (const id of ids) any = this.deliver(id, false) || any;
      if (!any) return;
    }
    throw new Error('stabilize did not converge');
  }

  private partition(args: string[]): void {
    this.cut.clear();
    const groups: bigint[][] = [[]];
    for (const a of args) {
      if (a === '|') groups.push([]);
      else groups[groups.length - 1]!.push(BigInt(a));
    }
    for (const g of groups) for (const h of groups) {
      if (g === h) continue;
      for (const a of g) for (const b of h) this.cut.add(`${a}>${b}`);
    }
  }

  private status(n: TestNode): void {
    const st = n.rn.status();
    this.p(`${st.id}: term=${st.term} leader=${st.leader} role=${st.role} commit=${st.commit} applied=${st.applied} last=${st.lastIndex}`);
    if (st.progress) for (const [id, pr] of st.progress) this.p(`  ${id}: ${pr.state} match=${pr.match} next=${pr.next}`);
  }

  private raftState(): void {
    for (const [id, n] of this.nodes) {
      const st = n.rn.status();
      this.p(`${id}: ${st.role} term=${st.term} leader=${st.leader} commit=${st.commit}${st.config.voters.includes(id) || st.config.votersOutgoing.includes(id) ? ' (Voter)' : st.config.learners.includes(id) ? ' (Learner)' : ' (Non-member)'}`);
    }
  }

  private raftLog(n: TestNode): void {
    const s = n.storage;
    const first = s.firstIndex();
    const last = s.lastIndex();
    if (first > 1n) this.p(`(log compacted up to ${first - 1n})`);
    if (last < first) { this.p('(empty)'); return; }
    for (const e of s.entries(first, last + 1n, Number.MAX_SAFE_INTEGER)) this.p(fmtEntry(e));
  }

  private compact(n: TestNode, index: bigint): void {
    // The state machine as of `index`, as a real one would snapshot it.
    const data = Buffer.from(JSON.stringify(n.applied.filter((a) => a.index <= index).map((a) => [String(a.index), a.data])));
    n.storage.createSnapshot(index, n.rn.status().config, data);
    n.storage.compact(index);
    this.p(`INFO ${n.id} compacted log up to ${index}`);
  }

  /** Steps a hand-made message: for bad input (other cluster, unknown member, stale term). */
  private inject(c: Cmd): void {
    const n = this.node(c.args[0]);
    const type = MessageType[('MSG_' + (c.args[1] ?? '').replace(/^Msg/, '').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()) as keyof typeof MessageType] as MessageType;
    const m = newMessage({
      type, to: BigInt(c.kv.get('to') ?? n.id), from: BigInt(c.kv.get('from') ?? '0'), term: BigInt(c.kv.get('term') ?? '0'),
      index: BigInt(c.kv.get('index') ?? '0'), logTerm: BigInt(c.kv.get('logterm') ?? '0'), commit: BigInt(c.kv.get('commit') ?? '0'),
      clusterId: c.kv.get('cluster') ?? n.cfg.clusterId,
    });
    const before = n.rn.status().droppedFromUnknown;
    n.rn.step(m);
    const after = n.rn.status().droppedFromUnknown;
    this.p(after > before ? `dropped (from non-member; dropped so far: ${after})` : 'stepped');
  }
}

function decodeSM(data: Buffer): { index: bigint; data: string }[] {
  if (!data.length) return [];
  return (JSON.parse(data.toString()) as [string, string][]).map(([i, d]) => ({ index: BigInt(i), data: d }));
}

function parseIds(s: string | undefined): bigint[] {
  if (!s) return [];
  return s.replace(/[()]/g, '').split(',').filter(Boolean).map((x) => BigInt(x));
}

/** "v4 l5 r2" -> add voter 4, add learner 5, remove 2; "leave" -> an empty (leave-joint) change. */
export function parseConfChange(args: string[]): ConfChange {
  const changes = args.filter((a) => a !== 'leave').map((a) => ({
    type: a[0] === 'v' ? ConfChangeType.CONF_ADD_VOTER : a[0] === 'l' ? ConfChangeType.CONF_ADD_LEARNER : ConfChangeType.CONF_REMOVE,
    nodeId: BigInt(a.slice(1)),
  }));
  return { changes, context: Buffer.alloc(0) };
}
