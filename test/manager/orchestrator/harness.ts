// Drives manager components in tests: a MemoryStore, a fake clock, started components, and a
// way to wait for the store to reach a state without sleeping.
import { pino } from 'pino';
import { TaskState, type Task } from '../../../proto/gen/types.js';
import { FakeClock, settle } from '../../../manager/clock.js';
import { MemoryStore, type ReadonlyDeep, type ReadTx } from '../../../manager/store/index.js';
import { withState } from '../store/fixtures.js';

export const quiet = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });

export interface Runnable {
  run(signal?: AbortSignal): Promise<void>;
}

export interface HarnessOptions {
  /** Commit proposals a turn of the event loop later, as a Raft log would, instead of at once. */
  asyncLog?: boolean;
  maxProposalBytes?: number;
}

export class Harness {
  readonly clock = new FakeClock();
  readonly store: MemoryStore;
  private index = 0n;

  constructor(opts: HarnessOptions = {}) {
    const proposer = opts.asyncLog
      ? {
          propose: (data: Uint8Array): Promise<{ index: bigint }> =>
            new Promise((resolve) =>
              setImmediate(() => {
                const index = ++this.index;
                this.store.applyCommitted(data, index);
                resolve({ index });
              }),
            ),
        }
      : undefined;
    this.store = new MemoryStore({ clock: this.clock, proposer, maxProposalBytes: opts.maxProposalBytes });
  }
  private readonly ac = new AbortController();
  private readonly running: Promise<void>[] = [];

  start(...components: Runnable[]): void {
    for (const c of components) this.running.push(c.run(this.ac.signal));
  }

  async close(): Promise<void> {
    this.ac.abort();
    await Promise.all(this.running);
  }

  view<T>(fn: (tx: ReadTx) => T): T {
    return this.store.view(fn);
  }

  /** Waits (without sleeping) until cond holds over the store; fails naming what it waited for. */
  async until(what: string, cond: (tx: ReadTx) => boolean, turns = 400): Promise<void> {
    for (let i = 0; i < turns; i++) {
      if (this.store.view(cond)) return;
      await settle(1);
    }
    throw new Error(`store never reached: ${what}`);
  }

  /** Lets the components react to everything so far, then checks nothing more happens. */
  async quiesce(): Promise<void> {
    let v = this.store.version;
    for (let i = 0; i < 50; i++) {
      await settle(2);
      if (this.store.version === v && i > 3) return;
      v = this.store.version;
    }
    throw new Error('components kept writing');
  }

  tasks(serviceId: string, filter: (t: ReadonlyDeep<Task>) => boolean = () => true): ReadonlyDeep<Task>[] {
    return this.view((tx) => tx.tasks.find('service', serviceId).filter(filter)).sort((a, b) => a.slot - b.slot);
  }

  /** Plays agents: moves tasks on nodes towards their desired state in one proposal. */
  async actAsAgents(): Promise<void> {
    await this.store.update((tx) => {
      for (const t of tx.tasks.all()) {
        const state = t.status?.state ?? TaskState.NEW;
        if (!t.nodeId || state < TaskState.ASSIGNED) continue;
        if (t.desiredState <= TaskState.RUNNING && state < TaskState.RUNNING) tx.tasks.update(withState(t, TaskState.RUNNING));
        else if (t.desiredState > TaskState.RUNNING && state <= TaskState.RUNNING) tx.tasks.update(withState(t, TaskState.SHUTDOWN));
      }
    });
  }
}

export const live = (t: ReadonlyDeep<Task>): boolean => t.desiredState <= TaskState.RUNNING;
