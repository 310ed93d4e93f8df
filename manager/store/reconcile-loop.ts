// The loop every watch-driven manager component shares: read the state once, then follow the
// store's events, marking work as dirty, and do the work once the queue is drained (so a burst
// of proposals costs one pass). Timers of the component can wake it between events.
// What the loop cannot get past (reading the state throws; a pass keeps failing) ends run() with
// the error: whoever runs the component (manager/supervisor.ts) logs it and starts it afresh.
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { SequenceConflictError } from './errors.js';
import type { MemoryStore } from './memory-store.js';
import type { ReadTx } from './tx.js';
import type { ObjectEvent, StoreEvent } from './types.js';
import type { Watcher } from './watch.js';
import { unlessAborted } from '../../proto/undo.js';

export interface ReconcileHooks {
  /** Reads the whole state; called at start and after a snapshot restore. */
  load(tx: ReadTx): void;
  /** Notes what an applied change makes dirty. Must not write. */
  event(e: ObjectEvent): void;
  /** Whether flush() has work. */
  dirty(): boolean;
  /** Does the dirty work; on failure it must leave the work marked dirty. */
  flush(): Promise<void>;
}

const WAKE = Symbol('wake');
const RETRY_MS = [50, 200, 1000, 2000];
/** Failed passes in a row (version conflicts aside) after which run() gives up with the error. */
export const MAX_FAILED_PASSES = 6;

export class ReconcileLoop {
  private wakeUp: (() => void) | undefined;
  private woken = false;

  constructor(
    private readonly store: MemoryStore,
    private readonly clock: Clock,
    private readonly hooks: ReconcileHooks,
    private readonly log: Logger,
  ) {}

  /** Makes a running loop call flush() soon (e.g. when a component's timer fires). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async run(signal: AbortSignal): Promise<void> {
    let watcher: Watcher | undefined;
    let next: Promise<IteratorResult<StoreEvent>> | undefined;
    let failures = 0;
    let failedInARow = 0; // conflicts aside
    try {
      // A loop that falls far behind re-reads the state (a reset) rather than queue without bound.
      [, watcher] = this.store.viewAndWatch((tx) => this.hooks.load(tx), { signal, onOverflow: 'reset' });
      while (!signal.aborted) {
        for (let e = watcher.poll(); e; e = watcher.poll()) this.handle(e);
        if (this.hooks.dirty()) {
          try {
            await this.hooks.flush();
            failures = 0;
            failedInARow = 0;
          } catch (err) {
            if (signal.aborted) break;
            const conflict = err instanceof SequenceConflictError;
            if (!conflict && ++failedInARow >= MAX_FAILED_PASSES) {
              throw new Error(`reconcile pass failed ${failedInARow} times in a row: ${(err as Error).message}`, { cause: err });
            }
            // A conflict means someone else wrote first: re-reading is the fix, at once (but
            // not forever in a tight loop).
            if (!conflict || failures >= 3) {
              this.log.warn({ err }, 'reconcile pass failed; retrying');
              await unlessAborted(this.clock.sleep(RETRY_MS[Math.min(failures, RETRY_MS.length - 1)]!, signal), signal);
            }
            failures++;
          }
          continue;
        }
        if (this.woken) {
          this.woken = false;
          continue;
        }
        next ??= watcher.next();
        const wake = new Promise<typeof WAKE>((r) => (this.wakeUp = () => r(WAKE)));
        const r = await Promise.race([next, wake]);
        this.wakeUp = undefined;
        if (r === WAKE) {
          this.woken = false;
          continue;
        }
        next = undefined;
        if (r.done) break;
        this.handle(r.value);
      }
    } finally {
      watcher?.close();
    }
  }

  private handle(e: StoreEvent): void {
    if (e.type === 'commit') return;
    try {
      if (e.type === 'reset') this.store.view((tx) => this.hooks.load(tx));
      else this.hooks.event(e);
    } catch (err) {
      // A bug in one handler must not stop a leader's component for good: re-read everything
      // (if that throws too, run() ends with the error).
      this.log.error({ err, event: e.type }, 'event handler failed; reloading state');
      this.store.view((tx) => this.hooks.load(tx));
    }
  }
}
