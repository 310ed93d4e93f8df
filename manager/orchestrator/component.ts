// The lifecycle every leader-only component shares: run(signal) until aborted or stop()ped.
import { pino, type Logger } from 'pino';
import type { Clock } from '../clock.js';
import { ReconcileLoop, type MemoryStore, type ReconcileHooks } from '../store/index.js';

export interface ComponentOptions {
  logger?: Logger;
}

export interface OrchestratorOptions extends ComponentOptions {
  /** Objects one transaction may touch (default 1,000); larger changes span several. */
  changesPerTx?: number;
}

export function defaultLogger(component: string): Logger {
  return pino({ name: component, level: process.env.SHOAL_LOG_LEVEL ?? 'info' });
}

export abstract class WatchingComponent implements ReconcileHooks {
  protected readonly log: Logger;
  private readonly loop: ReconcileLoop;
  private stopper: AbortController | undefined;

  constructor(
    protected readonly store: MemoryStore,
    protected readonly clock: Clock,
    name: string,
    opts: ComponentOptions = {},
  ) {
    this.log = (opts.logger ?? defaultLogger(name)).child({ component: name });
    this.loop = new ReconcileLoop(store, clock, this, this.log);
  }

  abstract load(tx: Parameters<ReconcileHooks['load']>[0]): void;
  abstract event(e: Parameters<ReconcileHooks['event']>[0]): void;
  abstract dirty(): boolean;
  abstract flush(): Promise<void>;

  /** Runs until signal aborts or stop() is called. */
  async run(signal?: AbortSignal): Promise<void> {
    const ac = new AbortController();
    this.stopper = ac;
    const onAbort = (): void => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) ac.abort();
    try {
      await this.loop.run(ac.signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.stopped();
    }
  }

  stop(): void {
    this.stopper?.abort();
  }

  /** Asks the loop for another flush (from a timer). */
  protected wake(): void {
    this.loop.wake();
  }

  /** Cleanup after run ends (timers). */
  protected stopped(): void {}
}
