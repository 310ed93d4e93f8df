// The manager's replicated store: a MemoryStore whose proposals go through a RaftNode. The Raft
// state machine applies committed StoreActions to the store on every manager; snapshots are the
// store's own. propose() resolves once the entry is applied here (so the writer reads its write).
import type { Logger } from 'pino';
import { NotLeaderError as RaftNotLeaderError, ProposalDroppedError } from '../raft/index.js';
import { RaftNode, RaftTimeoutError, type RaftNodeOptions } from '../raft/node/index.js';
import type { PeerAuthorization, RaftPeer } from '../raft/transport/index.js';
import type { Clock } from '../clock.js';
import { RaftBinding, type MemoryStore } from '../store/index.js';
import { NoLeaderError, NoQuorumError, NotLeaderError } from './errors.js';
import { settled } from '../../proto/undo.js';

export type RaftStoreOptions = Omit<RaftNodeOptions<bigint>, 'stateMachine' | 'logger' | 'authorizePeer'> & {
  /** Builds the Raft transport's peer authorization on the store (which knows who is a member). */
  authorizePeer?: (store: MemoryStore) => (peer: RaftPeer) => PeerAuthorization;
  clock?: Clock;
  logger?: Logger;
  /** Turns a member's Raft address into the address callers should use (its cluster API). */
  publicAddr?: (raftAddr: string) => string;
};

export class RaftStore {
  private constructor(
    readonly store: MemoryStore,
    readonly raft: RaftNode<bigint>,
    private readonly timeoutMs: number,
    private readonly pub: (raftAddr: string) => string,
  ) {}

  /** Recovers (or bootstraps) the Raft member in o.dir and the store from its snapshot and log. */
  static async start(o: RaftStoreOptions): Promise<RaftStore> {
    const timeoutMs = o.requestTimeoutMs ?? 10_000;
    const pub = o.publicAddr ?? ((a: string) => a);
    // The binding gives the store its proposer before the node exists (boot replays entries
    // into the store); proposals are refused as "no leader" until the node is attached.
    const binding = new RaftBinding({ clock: o.clock });
    const raft = await RaftNode.start<bigint>({
      ...o,
      authorizePeer: o.authorizePeer?.(binding.store),
      logger: o.logger?.child({ component: 'raft' }),
      stateMachine: binding.stateMachine,
    });
    binding.attach({ propose: (data) => translate(raft, pub, () => raft.propose(data), 'write', timeoutMs) });
    return new RaftStore(binding.store, raft, timeoutMs, pub);
  }

  /** Linearizable read barrier (ReadIndex): after it, the local store reflects every write
   *  acknowledged before the call. Works on followers too (the leader confirms the index). */
  async readBarrier(): Promise<void> {
    // A read forwarded to a leader that just died would wait out the whole timeout: abandon it
    // when the leader changes and ask the new one, until the deadline.
    const end = Date.now() + this.timeoutMs;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) throw new NoQuorumError('read', this.timeoutMs);
      let off: (() => void) | undefined;
      const changed = new Promise<'changed'>((resolve) => {
        off = this.raft.onLeaderChange(() => resolve('changed'));
      });
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), left).unref());
      const read = translate(this.raft, this.pub, () => this.raft.readIndex(), 'read', this.timeoutMs).then(() => 'done' as const);
      void settled(read); // raced below: a read that loses the race may still fail
      try {
        const r = await Promise.race([read, changed, timer]).catch(async (err: unknown) => {
          if (err instanceof NoLeaderError) {
            // wait for an election instead of failing at once
            await Promise.race([changed, timer]);
            return 'changed' as const;
          }
          throw err;
        });
        if (r === 'done') return;
        if (r === 'timeout') throw new NoQuorumError('read', this.timeoutMs);
      } finally {
        off?.();
      }
    }
  }

  get isLeader(): boolean {
    const s = this.raft.status();
    return s.leader !== 0n && s.leader === s.id;
  }

  /** The leader's Raft address (host:port) as the membership knows it, if any. */
  leaderAddr(): string | undefined {
    const s = this.raft.status();
    return s.leader === 0n ? undefined : s.members.get(s.leader);
  }

  async stop(): Promise<void> {
    await this.raft.stop();
  }
}

/** Turns the driver's errors into the manager's: not leader, no leader, no quorum. */
async function translate<T>(raft: RaftNode<bigint>, pub: (a: string) => string, op: () => Promise<T>, what: string, timeoutMs: number): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof RaftNotLeaderError) {
      const leader = err.leader;
      if (!leader) throw new NoLeaderError(what);
      const addr = raft.status().members.get(leader);
      throw new NotLeaderError(leader, addr === undefined ? undefined : pub(addr));
    }
    if (err instanceof ProposalDroppedError) throw new NoLeaderError(what);
    if (err instanceof RaftTimeoutError) throw new NoQuorumError(what, timeoutMs);
    throw err;
  }
}
