// Runs one task of every global service on every eligible node, following nodes as they join,
// drain, go down or leave.
import type { Clock, TimerHandle } from '../../clock.js';
import type { MemoryStore, ObjectEvent, ReadTx } from '../../store/index.js';
import { WatchingComponent, type ComponentOptions } from '../component.js';
import { RestartTracker } from '../restarts.js';
import { diedWhileRunnable, isGlobal, isRunnable } from '../tasks.js';
import { reconcileGlobal } from './reconcile.js';

export class GlobalOrchestrator extends WatchingComponent {
  private readonly globalServices = new Set<string>();
  private readonly dirtyServices = new Set<string>();
  private readonly restarts = new RestartTracker();
  private readonly timers = new Map<number, TimerHandle>();

  constructor(store: MemoryStore, clock: Clock, opts: ComponentOptions = {}) {
    super(store, clock, 'orchestrator/global', opts);
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
    try {
      const now = this.clock.now();
      const wakeAt = await this.store.update((tx) => {
        const due: number[] = [];
        for (const id of ids) {
          const r = reconcileGlobal(tx, id, now, this.restarts);
          due.push(...r.wakeAt);
          if (r.created || r.shutDown) this.log.info({ serviceId: id, created: r.created, shutDown: r.shutDown }, 'reconciled global service');
        }
        return due;
      });
      for (const at of wakeAt) this.wakeAtTime(at);
    } catch (err) {
      for (const id of ids) this.dirtyServices.add(id);
      throw err;
    }
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
