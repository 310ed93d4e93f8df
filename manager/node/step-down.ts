// What a manager does when one of its leader components keeps failing: it records itself as
// degraded (ManagerStatus.degraded, which `node ls` shows) and hands leadership to another voter,
// healthy ones first, so that the cluster keeps a working scheduler and dispatcher. The mark is
// cleared by the manager itself once it has led a whole supervision window without a failure.
// A leader that cannot hand over (no other voter yet) keeps trying while its components fail.
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { MemoryStore } from '../store/index.js';
import type { ComponentHealth, FailingComponent, SupervisionPolicy } from '../supervisor.js';

/** The part of the Raft node a step-down needs. */
export interface LeaderHandover {
  status(): { id: bigint; leader: bigint; confState: { voters: bigint[] } | undefined };
  transferLeadership(to: bigint): Promise<void>;
}

export interface StepDownOptions {
  store: MemoryStore;
  raft: LeaderHandover;
  /** This manager's node id (its Node object carries the mark). */
  nodeId: string;
  log: Logger;
}

export class StepDown {
  /** Set when a component kept failing in this process; the store's mark outlives a restart. */
  private reason: string | undefined;
  private handingOver: Promise<void> | undefined;

  constructor(private readonly o: StepDownOptions) {}

  /** A supervisor's onFailing: mark this manager degraded and hand leadership over (one at a time). */
  readonly failing = (f: FailingComponent): void => {
    const reason = `${f.name} failed ${f.failures} times within ${Math.round(f.windowMs / 1000)} s: ${f.error}`;
    this.reason = reason;
    if (this.handingOver) return;
    this.handingOver = this.handOver(reason)
      .catch((err: unknown) => this.o.log.error({ err, reason }, 'stepping down failed'))
      .finally(() => (this.handingOver = undefined));
  };

  /** Why this manager is degraded, or undefined when it is healthy. */
  degraded(): string | undefined {
    if (this.reason) return this.reason;
    return this.ownMark() || undefined;
  }

  /** This manager's mark in its store replica ('' when unreadable: the local reason stands in). */
  private ownMark(): string {
    try {
      return this.o.store.view((tx) => tx.nodes.get(this.o.nodeId))?.managerStatus?.degraded ?? '';
    } catch {
      return '';
    }
  }

  /** Raft ids of managers marked degraded (none when the store cannot be read: any will do). */
  private degradedManagers(): Set<bigint> {
    try {
      return new Set(this.o.store.view((tx) => tx.nodes.all().filter((n) => n.managerStatus?.degraded).map((n) => n.managerStatus!.raftId)));
    } catch {
      return new Set();
    }
  }

  /**
   * Leader task, for the whole term: while a component keeps failing, hands leadership over
   * again every little while (there may be no one to hand over to at first: a lone manager, or
   * the others still joining); once every component has run a whole window of this term
   * without failing, clears the degraded mark.
   */
  async watch(clock: Clock, policy: Pick<SupervisionPolicy, 'maxFailures' | 'windowMs'>, health: () => ComponentHealth[], signal: AbortSignal): Promise<void> {
    const termStart = clock.now();
    const checkMs = Math.min(5_000, policy.windowMs / 4);
    for (;;) {
      try {
        await clock.sleep(checkMs, signal);
      } catch (err) {
        if (!signal.aborted) throw err;
        return; // the term ended
      }
      const h = health();
      const failing = h.find((c) => c.recentFailures >= policy.maxFailures);
      if (failing) {
        this.failing({ name: failing.name, failures: failing.recentFailures, windowMs: policy.windowMs, error: failing.lastError ?? '' });
        await this.handingOver;
      } else if (clock.now() - termStart >= policy.windowMs && h.every((c) => c.recentFailures === 0) && (this.reason !== undefined || this.ownMark() !== '')) {
        await this.mark(''); // a failure here fails the task: its supervisor tries again
        this.reason = undefined;
        this.o.log.info({ node: this.o.nodeId }, 'leader components ran a whole window without failing: manager no longer degraded');
      }
    }
  }

  private async handOver(reason: string): Promise<void> {
    const { log, raft } = this.o;
    // the mark first, while this manager still leads and can write
    await this.mark(reason).catch((err: unknown) => log.warn({ err }, 'could not record this manager as degraded in the store'));
    const s = raft.status();
    if (s.leader !== s.id) return; // leadership is gone already
    const degraded = this.degradedManagers();
    const others = (s.confState?.voters ?? []).filter((v) => v !== s.id);
    const order = [...others.filter((v) => !degraded.has(v)), ...others.filter((v) => degraded.has(v))];
    if (order.length === 0) {
      log.error({ reason }, 'a leader component keeps failing and no other manager can take over: staying leader, degraded');
      return;
    }
    for (const to of order) {
      log.warn({ to: to.toString(), reason }, 'a leader component keeps failing: handing leadership to another manager');
      try {
        await raft.transferLeadership(to);
        return;
      } catch (err) {
        if (raft.status().leader !== s.id) return; // someone else leads now: done all the same
        log.warn({ to: to.toString(), err }, 'leadership transfer failed; trying the next manager');
      }
    }
    log.error({ reason }, 'no other manager took over: staying leader, degraded');
  }

  private async mark(reason: string): Promise<void> {
    await this.o.store.update((tx) => {
      const n = tx.nodes.get(this.o.nodeId);
      const ms = n?.managerStatus;
      if (!n || !ms || ms.degraded === reason) return;
      tx.nodes.update({ ...n, managerStatus: { ...ms, degraded: reason } });
    });
  }
}
