// Applies NodeSpec.desired_role to the cluster (leader-only). Promotion only flips Node.role: the
// promoted node's daemon sees it, gets a manager certificate and asks RaftMembership.Join, which
// adds it as a learner and promotes it once caught up. Demotion removes the node's Raft member
// first (the Raft core refuses a removal that would leave no quorum of live voters; the leader
// hands leadership over before removing itself), and only then records role WORKER.
import type { Logger } from 'pino';
import { NodeRole, type Node } from '../../proto/gen/types.js';
import type { Clock } from '../clock.js';
import type { RaftNode } from '../raft/node/index.js';
import type { MemoryStore, ReadonlyDeep } from '../store/index.js';
import { unlessAborted } from '../../proto/undo.js';

const RETRY_MS = 1_000;

export class RoleManager {
  private readonly log: Logger;

  constructor(
    private readonly store: MemoryStore,
    private readonly raft: RaftNode<bigint>,
    private readonly clock: Clock,
    log: Logger,
  ) {
    this.log = log.child({ component: 'role-manager' });
  }

  async run(signal: AbortSignal): Promise<void> {
    const watcher = this.store.watch({ filter: (e) => e.kind === 'node', signal, onOverflow: 'reset' });
    let dirty = true;
    const wake = (): void => {
      dirty = true;
    };
    void (async () => {
      for (;;) {
        const n = await watcher.next();
        if (n.done) return;
        wake();
      }
    })();
    while (!signal.aborted) {
      if (dirty) {
        dirty = false;
        const pending = await this.reconcile(signal).catch((err: unknown) => {
          this.log.warn({ err: (err as Error).message }, 'role reconciliation failed; retrying');
          return true;
        });
        if (pending) dirty = true;
      }
      await unlessAborted(this.clock.sleep(dirty ? RETRY_MS : 200, signal), signal);
    }
  }

  /** One pass; true when something is left to do later. */
  private async reconcile(signal: AbortSignal): Promise<boolean> {
    const nodes = this.store.view((tx) => tx.nodes.all());
    let pending = false;
    for (const n of nodes) {
      if (signal.aborted) return false;
      const want = n.spec?.desiredRole ?? NodeRole.WORKER;
      if (want === n.role) continue;
      if (want === NodeRole.MANAGER) await this.setRole(n.id, NodeRole.MANAGER);
      else if (!(await this.demote(n))) pending = true;
    }
    if (await this.removeOrphanMembers(nodes)) pending = true;
    return pending;
  }

  private async demote(n: ReadonlyDeep<Node>): Promise<boolean> {
    const raftId = n.managerStatus?.raftId ?? 0n;
    const s = this.raft.status();
    if (raftId !== 0n && s.members.has(raftId)) {
      if (raftId === s.id) {
        const to = (s.confState?.voters ?? []).find((v) => v !== s.id);
        if (to === undefined) {
          this.log.warn({ node: n.id }, 'cannot demote the last manager');
          return false;
        }
        this.log.info({ node: n.id, to: to.toString() }, 'demoting the leader: transferring leadership first');
        await this.raft.transferLeadership(to); // this term ends; the next leader finishes the demotion
        return true;
      }
      this.log.info({ node: n.id, raftId: raftId.toString() }, 'demote: removing raft member');
      await this.raft.removeMember(raftId);
    }
    await this.setRole(n.id, NodeRole.WORKER);
    return true;
  }

  /** Raft members whose node was removed from the store (node rm of a down manager). */
  private async removeOrphanMembers(nodes: readonly ReadonlyDeep<Node>[]): Promise<boolean> {
    const s = this.raft.status();
    const known = new Set(nodes.map((n) => n.managerStatus?.raftId ?? 0n));
    if (!known.has(s.id)) return false; // our own record is not written yet (cluster starting)
    for (const id of s.members.keys()) {
      if (id === s.id || known.has(id)) continue;
      this.log.info({ raftId: id.toString() }, 'removing the raft member of a removed node');
      await this.raft.removeMember(id);
      return true;
    }
    return false;
  }

  private async setRole(nodeId: string, role: NodeRole): Promise<void> {
    await this.store.update((tx) => {
      const cur = tx.nodes.get(nodeId);
      if (!cur || cur.role === role) return;
      tx.nodes.update({ ...cur, role, managerStatus: role === NodeRole.WORKER ? undefined : cur.managerStatus });
    });
    this.log.info({ node: nodeId, role: NodeRole[role] }, 'node role changed');
  }
}
