// A manager leaving the cluster: what it would do to the managers' quorum (the refusal without
// --force, the warnings with it), and its removal from the Raft group through the leader. The
// removal is a demotion (NodeSpec.desired_role = worker): the leader's role manager then removes
// the Raft member with a single safe change (the Raft core refuses one that would leave no
// quorum of live voters; a leader demoting itself hands leadership over first), and records
// the node as a worker, so `node rm` works once it is down. If the change cannot be made now,
// the desired role stays written and the managers finish the removal once it is safe.
import { Client, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ControlClient, ControlService } from '../proto/gen/control.js';
import { callUnary, type UnaryMethod } from '../proto/unary.js';
import { NodeRole } from '../proto/gen/types.js';
import { clientCredentials, type NodeCertificates } from '../manager/ca/index.js';
import type { Manager } from '../manager/node/index.js';

export interface ManagerCounts {
  /** Raft members. */
  total: number;
  /** Members that answer: this one and the others whose cluster API accepts a connection. */
  reachable: number;
}

const quorumOf = (n: number): number => Math.floor(n / 2) + 1;

/**
 * Raft members and how many answer now. Reachability is probed (a TLS connection to each other
 * member's cluster API) rather than read from the Node objects: marking a node down needs a
 * quorum write, so a cluster that has just lost its quorum still shows its dead managers ready.
 */
export async function managerCounts(m: Manager, selfRaftId: bigint, certs: NodeCertificates, probeMs = 2_000): Promise<ManagerCounts> {
  const members = m.members();
  const others = [...members].filter(([id]) => id !== selfRaftId).map(([, addr]) => addr);
  const answers = await Promise.all(others.map((addr) => reachable(addr, certs, probeMs)));
  return { total: members.size, reachable: (members.has(selfRaftId) ? 1 : 0) + answers.filter(Boolean).length };
}

function reachable(addr: string, certs: NodeCertificates, ms: number): Promise<boolean> {
  const client = new Client(addr, clientCredentials(certs));
  return new Promise<boolean>((resolve) => client.waitForReady(new Date(Date.now() + ms), (err) => resolve(!err))).finally(() => client.close());
}

/** What this manager's leaving would cost the cluster, in words; undefined when nothing. */
export function quorumRisk(c: ManagerCounts): string | undefined {
  if (c.total <= 1) return "this is the last manager: leaving takes the cluster's whole state (services, tasks, join tokens) with it";
  const remaining = c.total - 1;
  const reachable = Math.max(0, c.reachable - 1);
  if (reachable >= quorumOf(remaining)) return undefined;
  return `leaving leaves ${reachable} reachable manager(s) of ${remaining}, fewer than the ${quorumOf(remaining)} a quorum needs: the cluster would accept no changes until enough managers are back`;
}

/** The refusal of `leave` without --force on a manager. */
export function managerLeaveRefusal(nodeId: string, c: ManagerCounts): string {
  const risk = quorumRisk(c);
  return (
    `this node is a manager: leaving would take one of the cluster's ${c.total} manager(s) away${risk ? `; ${risk}` : ''}. ` +
    `Demote it first (\`shoal node demote ${nodeId}\` on a manager) and then leave, or use \`shoal leave --force\``
  );
}

export interface RaftLeaveOptions {
  manager: Manager;
  certs: NodeCertificates;
  nodeId: string;
  raftId: bigint;
  advertiseAddr: string;
  /** How long to wait for the managers to remove this node's Raft member (default 30 s). */
  timeoutMs?: number;
  logger: Logger;
}

/**
 * Takes this manager out of the Raft group before it leaves; returns warnings for the user
 * (empty when the group shrank cleanly). Never throws: a node that cannot be removed still
 * leaves, and the warnings say what is left to do.
 */
export async function leaveRaftGroup(o: RaftLeaveOptions): Promise<string[]> {
  const log = o.logger.child({ component: 'leave' });
  const counts = await managerCounts(o.manager, o.raftId, o.certs);
  if (counts.total <= 1 || !o.manager.members().has(o.raftId)) return counts.total <= 1 ? [`${quorumRisk(counts)}.`] : [];
  const risk = quorumRisk(counts);
  const cleanup = `on a remaining manager, once it has a quorum: \`shoal node demote ${o.nodeId}\`, then \`shoal node rm --force ${o.nodeId}\``;
  // an election may be under way (the leader just died): give it a moment
  await o.manager.waitForLeader(5_000).catch((err: unknown) => log.warn({ node: o.nodeId, err: String(err) }, 'leaving: no leader yet; going on with what this manager knows'));
  const leader = o.manager.leaderApiAddr();
  if (!leader) {
    log.warn({ node: o.nodeId }, 'no manager leads: cannot leave the Raft group');
    return [...(risk ? [`${risk}.`] : []), `This node is still a member of the managers' Raft group (no manager leads: the cluster has no quorum): ${cleanup}.`];
  }
  const others = o.manager.managerAddrs().filter((a) => a !== o.advertiseAddr);
  const addrs = [...new Set([leader, ...others, o.advertiseAddr])];
  const control = new Controls(o.certs, addrs);
  try {
    try {
      await control.demote(o.nodeId);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not ask the managers to remove this node from the Raft group');
      return [...(risk ? [`${risk}.`] : []), `This node is still a member of the managers' Raft group (${detail(err)}): ${cleanup}.`];
    }
    log.info({ node: o.nodeId, raftId: o.raftId.toString() }, 'leaving: demotion recorded, waiting for the Raft member to be removed');
    // the role manager removes the member, then records the role; with the quorum at risk the
    // Raft core refuses the change for now, so there is nothing to wait for
    const end = Date.now() + (risk ? 0 : (o.timeoutMs ?? 30_000));
    for (;;) {
      const role = await control.role(o.nodeId, others.length ? others : addrs).catch((err: unknown) => {
        log.warn({ node: o.nodeId, err: detail(err) }, 'leaving: the managers did not answer about this node; asking again');
        return undefined;
      });
      if (role === NodeRole.WORKER) {
        log.info({ node: o.nodeId }, 'leaving: removed from the Raft group');
        return risk ? [`${risk}.`] : [];
      }
      if (Date.now() >= end) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    return [
      ...(risk ? [`${risk}.`] : []),
      `The managers have not removed this node from the Raft group yet; they will once that leaves them a quorum of reachable managers. Then run \`shoal node rm --force ${o.nodeId}\` on a manager.`,
    ];
  } finally {
    control.close();
  }
}

function detail(err: unknown): string {
  return (err as ServiceError).details || (err as Error).message || String(err);
}

/** Control clients to a list of managers, first that answers wins. */
class Controls {
  private readonly clients = new Map<string, ControlClient>();

  constructor(
    private readonly certs: NodeCertificates,
    private readonly addrs: string[],
  ) {}

  async demote(nodeId: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const { node } = await this.any(this.addrs, ControlService.getNode, { nodeId });
      if (!node?.spec) throw new Error(`node ${nodeId} is not known to the managers`);
      if (node.spec.desiredRole === NodeRole.WORKER) return;
      try {
        await this.any(this.addrs, ControlService.updateNode, { nodeId, version: node.meta?.version ?? 0n, spec: { ...node.spec, desiredRole: NodeRole.WORKER } });
        return;
      } catch (err) {
        if (attempt < 5 && /changed since it was read/.test(detail(err))) continue;
        throw err;
      }
    }
  }

  async role(nodeId: string, addrs: string[]): Promise<NodeRole | undefined> {
    try {
      const { node } = await this.any(addrs, ControlService.getNode, { nodeId });
      return node?.role;
    } catch (err) {
      // once the store holds this node as a worker, its manager certificate no longer opens the
      // Control API: that refusal is the demotion we are waiting for
      if ((err as ServiceError).code === 7) return NodeRole.WORKER;
      throw err;
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }

  /** Tries each address in turn; a refusal (anything but UNAVAILABLE/DEADLINE) is final. */
  private async any<Req, Res>(addrs: string[], method: UnaryMethod<Req, Res>, req: NoInfer<Req>): Promise<Res> {
    let last: unknown;
    for (const addr of addrs) {
      let c = this.clients.get(addr);
      if (!c) this.clients.set(addr, (c = new ControlClient(addr, clientCredentials(this.certs))));
      try {
        return await callUnary(c, method, req, new Date(Date.now() + 10_000));
      } catch (err) {
        last = err;
        const code = (err as ServiceError).code;
        if (code !== 14 && code !== 4) throw err;
      }
    }
    throw last instanceof Error ? last : new Error('no manager answered');
  }
}
