// The simulator's clients: each has at most one operation outstanding (put, get through
// ReadIndex, or cas) against some member, and records it in the history with logical call
// and return times; an operation that times out has an unknown outcome (return = Infinity).
import { RaftError, type RawNode } from '../../../../manager/raft/index.js';
import type { Operation } from './checker.js';
import type { KvCommand, KvStore } from './kv.js';
import type { Rng } from './prng.js';

/** What clients see of a member. */
export interface Member {
  id: bigint;
  rn?: RawNode;        // undefined while crashed
  removed: boolean;
  kv: KvStore;
  applied: bigint;
  /** ReadIndex requests in flight at this member, by context. */
  reads: Map<string, { client: Client; index?: bigint }>;
}

interface Pending {
  op: Operation;
  cmdId?: string;      // writes
  ctx?: string;        // reads
  node: bigint;
  started: number;
}

export interface Client { id: number; seq: number; pending?: Pending; lastSeen: Map<string, string>; node?: bigint }

const TIMEOUT_TICKS = 60;

export class Clients {
  readonly history: Operation[] = [];
  completed = 0;
  unknown = 0;
  failed = 0;
  private clock = 0;
  private readonly clients: Client[] = [];

  constructor(count: number, private readonly rng: Rng, private readonly keys: number) {
    for (let i = 0; i < count; i++) this.clients.push({ id: i, seq: 0, lastSeen: new Map() });
  }

  act(now: number, members: Map<bigint, Member>): void {
    for (const c of this.clients) {
      if (c.pending) {
        if (now - c.pending.started > TIMEOUT_TICKS) this.giveUp(c);
        continue;
      }
      if (!this.rng.chance(0.5)) continue;
      const live = [...members.values()].filter((n) => n.rn && !n.removed);
      if (!live.length) continue;
      // Clients stick to the member they used last (as a real client keeps its connection),
      // so a deposed leader in a minority keeps getting requests it must not serve stale.
      const last = c.node === undefined ? undefined : members.get(c.node);
      const leaders = live.filter((n) => n.rn!.raft.role === 'leader');
      let node: Member;
      if (last?.rn && !last.removed && this.rng.chance(0.8)) node = last;
      else node = leaders.length && this.rng.chance(0.7) ? this.rng.pick(leaders) : this.rng.pick(live);
      c.node = node.id;
      this.issue(c, node, now);
    }
  }

  private issue(c: Client, node: Member, now: number): void {
    const r = this.rng;
    const key = `k${r.int(this.keys)}`;
    const kind = r.pick(['put', 'put', 'get', 'get', 'cas'] as const);
    const id = `c${c.id}-${c.seq++}`;
    const op: Operation = { client: c.id, key, kind, call: ++this.clock, ret: Infinity };
    try {
      if (kind === 'get') {
        node.rn!.readIndex(Buffer.from(id));
        node.reads.set(id, { client: c });
        c.pending = { op, ctx: id, node: node.id, started: now };
        return;
      }
      op.value = id;
      let cmd: KvCommand;
      if (kind === 'put') {
        cmd = { id, op: 'put', key, value: id };
      } else {
        op.expect = c.lastSeen.get(key) ?? '';
        cmd = { id, op: 'cas', key, expect: op.expect, value: id };
      }
      node.rn!.propose(Buffer.from(JSON.stringify(cmd)));
      c.pending = { op, cmdId: id, node: node.id, started: now };
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      this.failed++; // refused synchronously: it never happened
    }
  }

  /** A member applied a write: the client that sent it there hears back. */
  writeApplied(n: Member, cmd: KvCommand, ok: boolean, current: string): void {
    for (const c of this.clients) {
      const p = c.pending;
      if (!p || p.cmdId !== cmd.id || p.node !== n.id) continue;
      p.op.ret = ++this.clock;
      if (p.op.kind === 'cas') {
        p.op.ok = ok;
        if (!ok) p.op.current = current;
      }
      c.lastSeen.set(cmd.key, ok ? cmd.value : current);
      this.history.push(p.op);
      this.completed++;
      c.pending = undefined;
    }
  }

  /** Answers reads whose read index the member has applied. */
  serveReads(n: Member): void {
    for (const [ctx, pr] of n.reads) {
      if (pr.index === undefined || pr.index > n.applied) continue;
      n.reads.delete(ctx);
      const p = pr.client.pending;
      if (p?.ctx !== ctx) continue;
      p.op.value = n.kv.get(p.op.key);
      p.op.ret = ++this.clock;
      pr.client.lastSeen.set(p.op.key, p.op.value);
      this.history.push(p.op);
      this.completed++;
      pr.client.pending = undefined;
    }
  }

  /** The member crashed: its clients' operations end with an unknown outcome. */
  memberCrashed(id: bigint): void {
    for (const c of this.clients) if (c.pending?.node === id) this.giveUp(c);
  }

  finish(): void {
    for (const c of this.clients) if (c.pending) this.giveUp(c);
  }

  private giveUp(c: Client): void {
    const p = c.pending!;
    c.pending = undefined;
    if (p.op.kind === 'get') return; // an unanswered read has no effect
    p.op.ret = Infinity;
    this.history.push(p.op);
    this.unknown++;
  }
}
