// Keeps every replicated service at its replica count: creates tasks in slots, shuts down the
// highest slots on scale-down, and replaces tasks that died or whose node went down or drained.
import { TaskState } from '../../../proto/gen/types.js';
import type { Clock, TimerHandle } from '../../clock.js';
import type { MemoryStore, ObjectEvent, ReadTx } from '../../store/index.js';
import { reconcileInBatches, type BatchState } from '../batches.js';
import { WatchingComponent, type OrchestratorOptions } from '../component.js';
import { DEFAULT_CHANGES_PER_TX, diedWhileRunnable, isReplicated, isRunnable, nodeKeepsTasks } from '../tasks.js';
import { RestartTracker } from '../restarts.js';
import { reconcileReplicatedJob } from './job.js';
import { reconcileReplicated } from './reconcile.js';

export class ReplicatedOrchestrator extends WatchingComponent {
  private readonly dirtyServices = new Set<string>();
  private readonly restarts = new RestartTracker();
  private readonly batch: BatchState;
  private readonly timers = new Map<number, TimerHandle>();

  constructor(store: MemoryStore, clock: Clock, opts: OrchestratorOptions = {}) {
    super(store, clock, 'orchestrator/replicated', opts);
    this.batch = { cap: opts.changesPerTx ?? DEFAULT_CHANGES_PER_TX };
  }

  load(tx: ReadTx): void {
    for (const s of tx.services.all()) if (isReplicated(s)) this.dirtyServices.add(s.id);
    // Tasks of a service removed while no leader was watching (of either mode) are also ours
    // to mark for removal.
    for (const t of tx.tasks.all()) {
      if (t.desiredState < TaskState.REMOVE && !tx.services.get(t.serviceId)) this.dirtyServices.add(t.serviceId);
    }
  }

  event(e: ObjectEvent): void {
    switch (e.kind) {
      case 'service':
        if (isReplicated(e.object) || isReplicated(e.old)) this.dirtyServices.add(e.object.id);
        break;
      case 'task':
        if ((e.type === 'update' && diedWhileRunnable(e.object)) || (e.type === 'delete' && isRunnable(e.object))) {
          this.dirtyServices.add(e.object.serviceId);
        }
        break;
      case 'node': {
        const lost = e.type === 'delete' || !nodeKeepsTasks(e.object);
        if (!lost || (e.type === 'update' && !nodeKeepsTasks(e.old))) break;
        this.store.view((tx) => {
          for (const t of tx.tasks.find('node', e.object.id)) if (isRunnable(t)) this.dirtyServices.add(t.serviceId);
        });
        break;
      }
      default:
        break;
    }
  }

  dirty(): boolean {
    return this.dirtyServices.size > 0;
  }

  async flush(): Promise<void> {
    const ids = [...this.dirtyServices];
    this.dirtyServices.clear();
    const wakeAt = await reconcileInBatches(
      this.store,
      this.clock,
      ids,
      this.batch,
      (tx, id, now, cap) => {
        const svc = tx.services.get(id);
        if (svc && !isReplicated(svc)) return undefined;
        return svc?.spec?.mode?.$case === 'replicatedJob'
          ? reconcileReplicatedJob(tx, id, now, this.restarts, cap)
          : reconcileReplicated(tx, id, now, this.restarts, cap);
      },
      (rest) => rest.forEach((id) => this.dirtyServices.add(id)),
      this.log,
    );
    for (const at of wakeAt) this.wakeAtTime(at);
  }

  private wakeAtTime(at: number): void {
    if (this.timers.has(at)) return;
    const h = this.clock.setTimeout(() => {
      this.timers.delete(at);
      for (const id of this.restarts.waitingServices()) this.dirtyServices.add(id);
      this.wake();
    }, at - this.clock.now());
    this.timers.set(at, h);
  }

  protected override stopped(): void {
    for (const h of this.timers.values()) h.cancel();
    this.timers.clear();
  }
}

