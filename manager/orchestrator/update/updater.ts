// The updater: a leader-only component that replaces tasks made from an older task template,
// slot by slot, as the service's update_config (or rollback_config) says. It talks to the
// orchestrators only through the store (see README.md).
import { UpdateStatus_State } from '../../../proto/gen/types.js';
import type { Clock, TimerHandle } from '../../clock.js';
import type { MemoryStore, ObjectEvent, ReadTx } from '../../store/index.js';
import { WatchingComponent, type ComponentOptions } from '../component.js';
import { hasFinished } from '../tasks.js';
import type { UpdateRun } from './run.js';
import { stepService, type UpdaterMemory } from './step.js';

export interface UpdaterOptions extends ComponentOptions {
  /** Slots one transaction may replace (default 300: two or three objects each). */
  slotsPerTx?: number;
}

export const DEFAULT_SLOTS_PER_TX = 300;

export class Updater extends WatchingComponent {
  private readonly dirtyServices = new Set<string>();
  private readonly mem: UpdaterMemory;
  private readonly timers = new Map<number, { handle: TimerHandle; services: Set<string> }>();

  constructor(store: MemoryStore, clock: Clock, opts: UpdaterOptions = {}) {
    super(store, clock, 'orchestrator/update', opts);
    this.mem = { runs: new Map<string, UpdateRun>(), paused: new Map<string, bigint>(), slotsPerTx: Math.max(1, opts.slotsPerTx ?? DEFAULT_SLOTS_PER_TX) };
  }

  /** The state of a service's update as this leader sees it (tests and diagnostics). */
  runOf(serviceId: string): Readonly<UpdateRun> | undefined {
    return this.mem.runs.get(serviceId);
  }

  load(tx: ReadTx): void {
    for (const s of tx.services.all()) this.dirtyServices.add(s.id);
  }

  event(e: ObjectEvent): void {
    switch (e.kind) {
      case 'service':
        if (e.type === 'delete') {
          this.mem.runs.delete(e.object.id);
          this.mem.paused.delete(e.object.id);
        } else if (this.mem.runs.has(e.object.id) || e.object.specVersion !== e.old?.specVersion || isStarted(e.object.updateStatus?.state)) {
          this.dirtyServices.add(e.object.id);
        }
        break;
      case 'task':
        // A run follows its tasks; without one, only a task that stopped may release a
        // stop-first replacement waiting in its slot.
        if (this.mem.runs.has(e.object.serviceId) || (e.type === 'update' && hasFinished(e.object) && !hasFinished(e.old!))) {
          this.dirtyServices.add(e.object.serviceId);
        }
        break;
      case 'node':
        if (e.type === 'update' || e.type === 'create') for (const id of this.mem.runs.keys()) this.dirtyServices.add(id);
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
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const now = this.clock.now();
      try {
        const wake = await this.store.update((tx) => stepService(tx, id, this.mem, now, this.log));
        for (const at of wake) this.wakeAt(id, at);
      } catch (err) {
        // The run's memory may hold changes of the refused transaction: re-derive from the store.
        this.mem.runs.delete(id);
        for (const rest of ids.slice(i)) this.dirtyServices.add(rest);
        throw err;
      }
    }
  }

  private wakeAt(serviceId: string, at: number): void {
    if (at <= this.clock.now()) {
      // more to do at once (a batch spanning transactions): the loop flushes again
      this.dirtyServices.add(serviceId);
      return;
    }
    const existing = this.timers.get(at);
    if (existing) {
      existing.services.add(serviceId);
      return;
    }
    const services = new Set([serviceId]);
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(at);
      for (const id of services) this.dirtyServices.add(id);
      this.wake();
    }, at - this.clock.now());
    this.timers.set(at, { handle, services });
  }

  protected override stopped(): void {
    for (const t of this.timers.values()) t.handle.cancel();
    this.timers.clear();
  }
}

function isStarted(state: UpdateStatus_State | undefined): boolean {
  return state === UpdateStatus_State.UPDATING || state === UpdateStatus_State.ROLLBACK_STARTED;
}
