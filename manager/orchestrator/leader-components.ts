// The store-driven components a manager runs while it is the Raft leader, started together on
// election and stopped together on step-down (they keep no state another leader would need).
import type { Clock } from '../clock.js';
import { Scheduler, type SchedulerOptions } from '../scheduler/scheduler.js';
import type { MemoryStore } from '../store/index.js';
import type { ComponentOptions } from './component.js';
import { GlobalOrchestrator } from './global/orchestrator.js';
import { ReplicatedOrchestrator } from './replicated/orchestrator.js';
import { TaskReaper } from './task-reaper.js';
import { Updater } from './update/index.js';

export interface LeaderComponentsOptions extends ComponentOptions {
  scheduler?: SchedulerOptions;
}

interface Component {
  run(signal?: AbortSignal): Promise<void>;
}

export class LeaderComponents {
  private running: { ac: AbortController; done: Promise<unknown> } | undefined;

  constructor(
    private readonly store: MemoryStore,
    private readonly clock: Clock,
    private readonly opts: LeaderComponentsOptions = {},
  ) {}

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  /** Starts the orchestrators, the task reaper, the updater and the scheduler (no-op if running). */
  start(): void {
    if (this.running) return;
    const o = { logger: this.opts.logger };
    const components: Component[] = [
      new ReplicatedOrchestrator(this.store, this.clock, o),
      new GlobalOrchestrator(this.store, this.clock, o),
      new TaskReaper(this.store, this.clock, o),
      new Updater(this.store, this.clock, o),
      new Scheduler(this.store, this.clock, { ...o, ...this.opts.scheduler }),
    ];
    const ac = new AbortController();
    this.running = { ac, done: Promise.allSettled(components.map((c) => c.run(ac.signal))) };
  }

  /** Stops them all and waits until none is writing any more. */
  async stop(): Promise<void> {
    const r = this.running;
    if (!r) return;
    this.running = undefined;
    r.ac.abort();
    await r.done;
  }
}
