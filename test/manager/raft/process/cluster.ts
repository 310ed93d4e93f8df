// Helpers shared by the RaftNode tests: a list state machine, free loopback ports, polling.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RaftNode, type RaftNodeOptions, type StateMachine } from '../../../../manager/raft/node/index.js';
import { freePorts } from '../../../helpers/ports.js';

/** Appends each entry's text to a list; apply returns the list's new length. */
export class ListMachine implements StateMachine<number> {
  items: string[] = [];
  restores = 0;
  apply(data: Buffer): number {
    const s = data.toString();
    if (s === 'poison') throw new Error('poison refused by the state machine');
    this.items.push(s);
    return this.items.length;
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify(this.items));
  }
  restore(data: Buffer): void {
    this.restores++;
    this.items = data.length ? (JSON.parse(data.toString()) as string[]) : [];
  }
}

export async function until<T>(fn: () => T | undefined | false, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Member {
  id: bigint;
  dir: string;
  addr: string;
  sm: ListMachine;
  node?: RaftNode<number>;
}

/** A cluster of in-process members on loopback with real WAL directories. */
export class Cluster {
  members = new Map<bigint, Member>();
  private base = '';
  constructor(private readonly extra: Partial<RaftNodeOptions<number>> = {}) {}

  async init(n: number): Promise<void> {
    this.base = await mkdtemp(path.join(tmpdir(), 'shoalri-'));
    const ports = await freePorts(n + 2);
    for (let i = 1; i <= n + 2; i++) {
      const id = BigInt(i);
      this.members.set(id, { id, dir: path.join(this.base, `m${i}`), addr: `127.0.0.1:${ports[i - 1]}`, sm: new ListMachine() });
    }
  }

  founders(n: number): Map<bigint, string> {
    return new Map([...this.members.values()].slice(0, n).map((m) => [m.id, m.addr]));
  }

  async start(id: bigint, peers: Map<bigint, string>, opts: Partial<RaftNodeOptions<number>> = {}): Promise<RaftNode<number>> {
    const m = this.members.get(id)!;
    m.sm = new ListMachine();
    m.node = await RaftNode.start({ id, clusterId: 'shoalri-cluster', dir: m.dir, listen: m.addr, peers, stateMachine: m.sm, ...this.extra, ...opts });
    return m.node;
  }

  async stop(id: bigint): Promise<void> {
    const m = this.members.get(id)!;
    await m.node?.stop();
    m.node = undefined;
  }

  running(): Member[] {
    return [...this.members.values()].filter((m) => m.node);
  }

  async leader(): Promise<Member> {
    return until(() => {
      const ls = this.running().filter((m) => m.node!.status().role === 'leader');
      if (ls.length !== 1) return undefined;
      const l = ls[0]!;
      // everybody running agrees
      return this.running().every((m) => m.node!.status().leader === l.id) ? l : undefined;
    }, 'a single agreed leader');
  }

  async destroy(): Promise<void> {
    try {
      await Promise.allSettled(this.running().map((m) => m.node!.stop()));
    } finally {
      if (this.base) await rm(this.base, { recursive: true, force: true });
    }
  }
}
