// The store-driven components a manager runs while it is the Raft leader, started together on
// election and stopped together on step-down (they keep no state another leader would need).
// A Supervisor keeps them running: a component that fails is logged and started again, as a
// fresh instance (it re-reads the store), after a backoff; one that keeps failing is reported
// through onFailing so that the manager can hand leadership to a healthy one.
import { Allocator } from '../allocator/index.js';
import type { Clock } from '../clock.js';
import { Scheduler, type SchedulerOptions } from '../scheduler/scheduler.js';
import { storeWithFailingReads, type MemoryStore } from '../store/index.js';
import { Supervisor, type ComponentHealth, type FailingComponent, type SupervisionPolicy } from '../supervisor.js';
import { defaultLogger, type ComponentOptions } from './component.js';
import { GlobalOrchestrator } from './global/orchestrator.js';
import { ReplicatedOrchestrator } from './replicated/orchestrator.js';
import { TaskReaper } from './task-reaper.js';
import { Updater } from './update/index.js';

export interface LeaderComponentsOptions extends ComponentOptions {
  scheduler?: SchedulerOptions;
  supervision?: Partial<SupervisionPolicy>;
  /** A component failed maxFailures times within the window (once per component per start()). */
  onFailing?: (f: FailingComponent) => void;
  /** Fault injection (tests only): the store reads of these components ('*': all) throw. */
  failingReads?: readonly string[];
}

interface Component {
  run(signal?: AbortSignal): Promise<void>;
}

export class LeaderComponents {
  private running: { ac: AbortController; supervisor: Supervisor; done: Promise<void> } | undefined;

  constructor(
    private readonly store: MemoryStore,
    private readonly clock: Clock,
    private readonly opts: LeaderComponentsOptions = {},
  ) {}

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  /** Starts the orchestrators, the task reaper, the updater, the allocator and the scheduler (no-op if running). */
  start(): void {
    if (this.running) return;
    const o = { logger: this.opts.logger };
    const fail = this.opts.failingReads ?? [];
    const store = (name: string): MemoryStore => (fail.includes(name) || fail.includes('*') ? storeWithFailingReads(this.store, name) : this.store);
    const make: [string, () => Component][] = [
      ['orchestrator/replicated', () => new ReplicatedOrchestrator(store('orchestrator/replicated'), this.clock, o)],
      ['orchestrator/global', () => new GlobalOrchestrator(store('orchestrator/global'), this.clock, o)],
      ['orchestrator/taskreaper', () => new TaskReaper(store('orchestrator/taskreaper'), this.clock, o)],
      ['orchestrator/update', () => new Updater(store('orchestrator/update'), this.clock, o)],
      ['allocator', () => new Allocator(store('allocator'), this.clock, o)],
      ['scheduler', () => new Scheduler(store('scheduler'), this.clock, { ...o, ...this.opts.scheduler })],
    ];
    const supervisor = new Supervisor(
      make.map(([name, create]) => ({ name, run: (signal: AbortSignal) => create().run(signal) })),
      {
        clock: this.clock,
        log: this.opts.logger ?? defaultLogger('leader-components'),
        policy: this.opts.supervision,
        onFailing: this.opts.onFailing,
      },
    );
    const ac = new AbortController();
    this.running = { ac, supervisor, done: supervisor.run(ac.signal) };
  }

  /** How each component fares (empty when not running). */
  health(): ComponentHealth[] {
    return this.running?.supervisor.health() ?? [];
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
