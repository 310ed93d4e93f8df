// RaftMembership (proto/ca.proto): a node holding a manager certificate asks the leader to add
// it to the Raft group. The leader records the node's raft id, adds it as a learner, and
// promotes it to voter once it has caught up, so a slow joiner never weakens the quorum.
import { randomBytes } from 'node:crypto';
import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { JoinRaftRequest, JoinRaftResponse, LeaveRaftRequest, LeaveRaftResponse, RaftMember, RaftMembershipServer } from '../../proto/gen/ca.js';
import { NodeRole } from '../../proto/gen/types.js';
import { NOT_LEADER_PREFIX, type IdentifyFn, type NodeIdentity } from '../dispatcher/index.js';
import type { RaftNode } from '../raft/node/index.js';
import type { MemoryStore } from '../store/index.js';
import { apiAddrFor, raftAddrFor, withApiPort } from './addresses.js';

export class MembershipRefusal extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export interface MembershipHost {
  store: MemoryStore;
  raft: RaftNode<bigint>;
  clusterId: string;
  /** The leader's cluster API address (for the "not leader: ADDR" refusal). */
  leaderApiAddr(): string | undefined;
  logger: Logger;
}

export class RaftMembership {
  constructor(private readonly h: MembershipHost) {}

  async join(who: NodeIdentity, addr: string): Promise<JoinRaftResponse> {
    this.assertLeader();
    if (who.role !== NodeRole.MANAGER) throw new MembershipRefusal(status.PERMISSION_DENIED, `node ${who.nodeId} has no manager certificate: promote it first (shoal node promote)`);
    if (!addr) throw new MembershipRefusal(status.INVALID_ARGUMENT, 'join: addr (the manager\'s advertised host:port) is required');
    const apiAddr = withApiPort(addr);
    const node = this.h.store.view((tx) => tx.nodes.get(who.nodeId));
    if (!node) throw new MembershipRefusal(status.NOT_FOUND, `node ${who.nodeId} is not a member of this cluster (was it removed?)`);
    const members = this.h.raft.status().members;
    let raftId = node.managerStatus?.raftId ?? 0n;
    if (raftId === 0n || !members.has(raftId)) {
      raftId = randomRaftId(members);
      await this.h.store.update((tx) => {
        const cur = tx.nodes.get(who.nodeId);
        if (!cur) return;
        tx.nodes.update({ ...cur, role: NodeRole.MANAGER, managerStatus: { raftId, addr: apiAddr, leader: false, reachability: 2, degraded: '' } });
      });
      this.h.logger.info({ node: who.nodeId, raftId: raftId.toString(), addr: apiAddr }, 'manager joining: adding raft learner');
      await this.h.raft.addMember(raftId, raftAddrFor(apiAddr), { learner: true });
      void this.promoteWhenCaughtUp(raftId);
    }
    return { raftId, clusterId: this.h.clusterId, members: this.members() };
  }

  async leave(raftId: bigint): Promise<LeaveRaftResponse> {
    this.assertLeader();
    if (!this.h.raft.status().members.has(raftId)) return {};
    await this.h.raft.removeMember(raftId);
    return {};
  }

  /** Every Raft member with its node id (from the store) and cluster API address. */
  members(): RaftMember[] {
    const nodes = this.h.store.view((tx) => tx.nodes.all());
    const byRaft = new Map(nodes.filter((n) => n.managerStatus?.raftId).map((n) => [n.managerStatus!.raftId, n.id]));
    return [...this.h.raft.status().members].map(([id, raftAddr]) => ({ raftId: id, nodeId: byRaft.get(id) ?? '', addr: apiAddrFor(raftAddr) }));
  }

  private async promoteWhenCaughtUp(raftId: bigint): Promise<void> {
    for (let attempt = 0; attempt < 30; attempt++) {
      const s = this.h.raft.status();
      if (s.leader !== s.id || !s.members.has(raftId)) return; // the next leader's role manager takes over
      if ((s.confState?.voters ?? []).includes(raftId)) return;
      try {
        await this.h.raft.promote(raftId);
        this.h.logger.info({ raftId: raftId.toString() }, 'manager joined: promoted to voter');
        return;
      } catch (err) {
        this.h.logger.warn({ raftId: raftId.toString(), err: (err as Error).message }, 'promotion not possible yet; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private assertLeader(): void {
    const s = this.h.raft.status();
    if (s.leader !== s.id) throw new MembershipRefusal(status.UNAVAILABLE, `${NOT_LEADER_PREFIX}${this.h.leaderApiAddr() ?? ''}`);
  }
}

function randomRaftId(taken: Map<bigint, string>): bigint {
  for (;;) {
    const id = randomBytes(8).readBigUInt64BE(0) >> 1n; // 63 bits: safe in every signed 64-bit reader
    if (id !== 0n && !taken.has(id)) return id;
  }
}

function toServiceError(err: unknown): Partial<ServiceError> {
  const code = err instanceof MembershipRefusal ? err.code : (err as { userError?: boolean }).userError ? status.FAILED_PRECONDITION : status.INTERNAL;
  const details = err instanceof Error ? err.message : String(err);
  return { code, details, message: details, metadata: new Metadata() };
}

/** The gRPC handlers; identify reads the caller's node identity from its certificate. */
export function raftMembershipService(m: RaftMembership, identify: IdentifyFn): RaftMembershipServer {
  return {
    join(call: ServerUnaryCall<JoinRaftRequest, JoinRaftResponse>, cb: sendUnaryData<JoinRaftResponse>): void {
      let who: NodeIdentity;
      try {
        who = identify(call);
      } catch (err) {
        cb({ code: status.UNAUTHENTICATED, details: `node identity missing or invalid: ${(err as Error).message}` });
        return;
      }
      m.join(who, call.request.addr).then((r) => cb(null, r), (err: unknown) => cb(toServiceError(err)));
    },
    leave(call: ServerUnaryCall<LeaveRaftRequest, LeaveRaftResponse>, cb: sendUnaryData<LeaveRaftResponse>): void {
      let who: NodeIdentity;
      try {
        who = identify(call);
      } catch (err) {
        cb({ code: status.UNAUTHENTICATED, details: `node identity missing or invalid: ${(err as Error).message}` });
        return;
      }
      if (who.role !== NodeRole.MANAGER) {
        cb({ code: status.PERMISSION_DENIED, details: 'only managers may change raft membership' });
        return;
      }
      m.leave(call.request.raftId).then((r) => cb(null, r), (err: unknown) => cb(toServiceError(err)));
    },
  };
}
