// The manager process: the Raft-backed store plus everything that runs only on the leader
// (orchestrators, task reaper, scheduler, dispatcher, role manager), started at the beginning
// of each term this manager leads and stopped when it ends. Supervisors restart what fails; when
// something keeps failing the manager records itself as degraded and hands leadership over.
import type { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { NodeRole } from '../../proto/gen/types.js';
import { RealClock, type Clock } from '../clock.js';
import { Dispatcher, type DispatcherOptions, type IdentifyFn } from '../dispatcher/index.js';
import { LeaderComponents } from '../orchestrator/leader-components.js';
import type { MemoryStore } from '../store/index.js';
import type { RecordCipher } from '../raft/storage/index.js';
import { apiAddrFor, raftAddrFor } from './addresses.js';
import { Leadership } from './leadership.js';
import { RaftMembership } from './membership.js';
import { raftPeerAuthorizer, type RaftPeerPolicy } from './raft-peers.js';
import { RaftStore } from './raft-store.js';
import { RoleManager } from './role-manager.js';
import { StepDown } from './step-down.js';
import { DEFAULT_SUPERVISION, untilAborted, type ComponentHealth, type SupervisionPolicy } from '../supervisor.js';

/** Raft timing; the defaults are the Raft driver's (50 ms tick, 400-800 ms elections). */
export interface RaftTiming {
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  requestTimeoutMs?: number;
  fsync?: boolean;
  snapshotEvery?: number;
}

export interface ManagerOptions {
  nodeId: string;
  raftId: bigint;
  clusterId: string;
  /** Raft state directory (SHOAL_ROOT/raft). */
  raftDir: string;
  /** This manager's advertised cluster API address (host:port); Raft listens on the next port. */
  apiAddr: string;
  /** Where the Raft transport binds (default: raftAddrFor(apiAddr)). */
  raftListen?: string;
  /** Raft members (id -> cluster API address). Founders: every founder; joiners: the current members. */
  members: Map<bigint, string>;
  /** A member added to a running cluster (waits for the leader's snapshot). */
  join?: boolean;
  raft?: RaftTiming;
  /** Encryption at rest of the Raft WAL and snapshots (manager/keys). */
  raftCipher?: { cipher: RecordCipher; allowPlaintext: boolean };
  serverCredentials?: ServerCredentials;
  channelCredentials?: ChannelCredentials;
  /** Who may speak on the Raft port (required with serverCredentials): see raft-peers.ts. */
  raftPeers?: Omit<RaftPeerPolicy, 'clusterId'>;
  identify: IdentifyFn;
  dispatcher?: Omit<DispatcherOptions, 'identify' | 'leaderAddr' | 'logger'>;
  clock?: Clock;
  /** Restart backoff and when a failing leader component makes this manager step down. */
  supervision?: Partial<SupervisionPolicy>;
  /** Fault injection (tests only): the store reads of these leader components ('*': all) throw. */
  failingStoreReads?: readonly string[];
  logger: Logger;
}

export class Manager {
  readonly dispatcher: Dispatcher;
  readonly membership: RaftMembership;
  private readonly leadership: Leadership;
  private readonly components: LeaderComponents;
  private readonly stepDown: StepDown;
  private offLeader: (() => void) | undefined;

  private constructor(
    readonly raftStore: RaftStore,
    private readonly o: ManagerOptions,
    private readonly log: Logger,
  ) {
    const clock = o.clock ?? new RealClock();
    const store = raftStore.store;
    this.dispatcher = new Dispatcher(store, clock, {
      ...o.dispatcher,
      identify: o.identify,
      leaderAddr: () => this.leaderApiAddr(),
      logger: log,
    });
    this.membership = new RaftMembership({
      store,
      raft: raftStore.raft,
      clusterId: o.clusterId,
      leaderApiAddr: () => this.leaderApiAddr(),
      logger: log,
    });
    const supervision = { ...DEFAULT_SUPERVISION, ...o.supervision };
    this.stepDown = new StepDown({ store, raft: raftStore.raft, nodeId: o.nodeId, log });
    const onFailing = this.stepDown.failing;
    const components = new LeaderComponents(store, clock, { logger: log, supervision, onFailing, failingReads: o.failingStoreReads });
    this.components = components;
    const roles = new RoleManager(store, raftStore.raft, clock, log);
    this.leadership = new Leadership(
      [
        {
          name: 'leader-components',
          run: async (signal) => {
            components.start();
            await untilAborted(signal);
            await components.stop();
          },
        },
        { name: 'dispatcher', run: (signal) => this.dispatcher.run(signal) },
        { name: 'role-manager', run: (signal) => roles.run(signal) },
        { name: 'leader-mark', run: (signal) => this.markLeader(signal) },
        // hands over again while something keeps failing; clears the degraded mark after a
        // whole window of this term without any failure
        { name: 'step-down', run: (signal) => this.stepDown.watch(clock, supervision, () => this.health(), signal) },
      ],
      (signal) => this.catchUp(signal),
      log,
      { clock, supervision, onFailing },
    );
  }

  static async start(o: ManagerOptions): Promise<Manager> {
    const log = o.logger.child({ component: 'manager', node: o.nodeId });
    const peers = new Map([...o.members].map(([id, a]) => [id, raftAddrFor(a)]));
    const raftStore = await RaftStore.start({
      id: o.raftId,
      clusterId: o.clusterId,
      dir: o.raftDir,
      listen: o.raftListen ?? raftAddrFor(o.apiAddr),
      peers,
      join: o.join,
      clock: o.clock,
      logger: o.logger,
      publicAddr: apiAddrFor,
      serverCredentials: o.serverCredentials,
      channelCredentials: o.channelCredentials,
      cipher: o.raftCipher?.cipher,
      allowPlaintext: o.raftCipher?.allowPlaintext,
      authorizePeer: o.raftPeers && ((store) => raftPeerAuthorizer({ ...o.raftPeers!, clusterId: o.clusterId }, store)),
      ...definedOnly(o.raft ?? {}),
    });
    const m = new Manager(raftStore, o, log);
    m.offLeader = raftStore.raft.onLeaderChange((leader) => {
      void m.leadership.set(leader === o.raftId);
    });
    const s = raftStore.raft.status();
    void m.leadership.set(s.leader === o.raftId);
    return m;
  }

  get store(): MemoryStore {
    return this.raftStore.store;
  }

  get isLeader(): boolean {
    return this.raftStore.isLeader;
  }

  /** Why this manager is degraded (leader components kept failing), or undefined when healthy. */
  degraded(): string | undefined {
    return this.stepDown.degraded();
  }

  /** How this term's leader tasks and components fare (empty when not leading). */
  health(): ComponentHealth[] {
    return [...this.leadership.health(), ...this.components.health()];
  }

  /** The leader's cluster API address, if a leader is known. */
  leaderApiAddr(): string | undefined {
    const r = this.raftStore.leaderAddr();
    return r === undefined ? undefined : apiAddrFor(r);
  }

  /** Raft members: raft id -> cluster API address. */
  members(): Map<bigint, string> {
    return new Map([...this.raftStore.raft.status().members].map(([id, a]) => [id, apiAddrFor(a)]));
  }

  /** Cluster API addresses of every Raft member. */
  managerAddrs(): string[] {
    return [...this.raftStore.raft.status().members.values()].map(apiAddrFor);
  }

  /** Linearizable read barrier for the control API's reads. */
  readBarrier(): Promise<void> {
    return this.raftStore.readBarrier();
  }

  /** Waits until some manager leads (or the deadline passes). */
  async waitForLeader(timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.raftStore.raft.status().leader === 0n) {
      if (Date.now() > end) throw new Error(`no raft leader elected within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.offLeader?.();
    await this.leadership.stop();
    await this.raftStore.stop();
  }

  private async catchUp(signal: AbortSignal): Promise<void> {
    for (;;) {
      try {
        await this.raftStore.readBarrier();
        return;
      } catch (err) {
        if (signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Records in the store which manager leads (node ls shows it), then holds until the term ends. */
  private async markLeader(signal: AbortSignal): Promise<void> {
    const self = this.o.raftId;
    // a failed write fails the task: its supervisor logs it and tries again
    await this.store.update((tx) => {
      for (const n of tx.nodes.all()) {
        const ms = n.managerStatus;
        if (!ms || n.role !== NodeRole.MANAGER) continue;
        const leader = ms.raftId === self;
        if (ms.leader !== leader) tx.nodes.update({ ...n, managerStatus: { ...ms, leader } });
      }
    });
    await untilAborted(signal);
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
