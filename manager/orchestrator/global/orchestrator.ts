// Runs one task of every global service on every eligible node, following nodes as they join,
// drain, go down or leave.
import type { Clock, TimerHandle } from '../../clock.js';
import type { MemoryStore, ObjectEvent, ReadTx } from '../../store/index.js';
import { reconcileInBatches, type BatchState } from '../batches.js';
import { WatchingComponent, type OrchestratorOptions } from '../component.js';
import { RestartTracker } from '../restarts.js';
import { DEFAULT_CHANGES_PER_TX, diedWhileRunnable, isGlobal, isRunnable } from '../tasks.js';
import { reconcileGlobal } from './reconcile.js';

export class GlobalOrchestrator extends WatchingComponent {
  private readonly globalServices = new Set<string>();
  private readonly dirtyServices = new Set<string>();
  private readonly restarts = new RestartTracker();
  private readonly batch: BatchState;
  private readonly timers = new Map<number, TimerHandle>();

  constructor(store: MemoryStore, clock: Clock, opts: OrchestratorOptions = {}) {
    super(store, clock, 'orchestrator/global', opts);
    this.batch = { cap: opts.changesPerTx ?? DEFAULT_CHANGES_PER_TX };
  }

  load(tx: ReadTx): void {
    this.globalServices.clear();
    for (const s of tx.services.all()) {
      if (!isGlobal(s)) continue;
      this.globalServices.add(s.id);
      this.dirtyServices.add(s.id);
    }
  }

  event(e: ObjectEvent): void {
    switch (e.kind) {
      case 'service':
        if (isGlobal(e.object) && e.type !== 'delete') this.globalServices.add(e.object.id);
        else this.globalServices.delete(e.object.id);
        if (isGlobal(e.object) || isGlobal(e.old)) this.dirtyServices.add(e.object.id);
        break;
      case 'node':
        for (const id of this.globalServices) this.dirtyServices.add(id);
        break;
      case 'task':
        if (!this.globalServices.has(e.object.serviceId)) break;
        if ((e.type === 'update' && diedWhileRunnable(e.object)) || (e.type === 'delete' && isRunnable(e.object))) {
          this.dirtyServices.add(e.object.serviceId);
        }
        break;
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
      (tx, id, now, cap) => reconcileGlobal(tx, id, now, this.restarts, cap),
      (rest) => rest.forEach((id) => this.dirtyServices.add(id)),
      this.log,
    );
    for (const at of wakeAt) this.wakeAtTime(at);
  }

  private wakeAtTime(at: number): void {
    if (this.timers.has(at)) return;
    this.timers.set(
      at,
      this.clock.setTimeout(() => {
        this.timers.delete(at);
        for (const id of this.globalServices) this.dirtyServices.add(id);
        this.wake();
      }, at - this.clock.now()),
    );
  }

  protected override stopped(): void {
    for (const h of this.timers.values()) h.cancel();
    this.timers.clear();
  }
}
