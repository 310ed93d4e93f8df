// Runs the leader-only work of a manager for exactly as long as it leads: one AbortSignal per
// term. Transitions are serialised, so a quick lose-win-lose never runs two terms at once.
import type { Logger } from 'pino';

/** One leader-only activity: runs until the signal aborts, and has stopped writing when it resolves. */
export type LeaderTask = (signal: AbortSignal) => Promise<void>;

export class Leadership {
  private term: { ac: AbortController; done: Promise<unknown> } | undefined;
  private chain: Promise<void> = Promise.resolve();
  private leading = false;

  constructor(
    private readonly tasks: LeaderTask[],
    /** Resolves once this leader's store reflects every committed entry (a read barrier). */
    private readonly catchUp: (signal: AbortSignal) => Promise<void>,
    private readonly log: Logger,
  ) {}

  get isLeading(): boolean {
    return this.term !== undefined;
  }

  /** Called on every leader change; true when this manager now leads. */
  set(leading: boolean): Promise<void> {
    if (leading === this.leading) return this.chain;
    this.leading = leading;
    this.chain = this.chain.then(() => (leading ? this.begin() : this.end())).catch((err: unknown) => {
      this.log.error({ err: (err as Error).message }, 'leadership transition failed');
    });
    return this.chain;
  }

  private async begin(): Promise<void> {
    if (this.term || !this.leading) return;
    const ac = new AbortController();
    // The components must see the whole committed state before they act on it.
    const done = this.catchUp(ac.signal).then(
      () => {
        if (ac.signal.aborted) return [];
        this.log.info({}, 'leader: starting leader-only components');
        return Promise.allSettled(this.tasks.map((t) => t(ac.signal)));
      },
      (err: unknown) => this.log.warn({ err: (err as Error).message }, 'leader: could not catch up; waiting for the next term'),
    );
    this.term = { ac, done };
  }

  private async end(): Promise<void> {
    const t = this.term;
    if (!t) return;
    this.term = undefined;
    t.ac.abort();
    await t.done;
    this.log.info({}, 'leader: leader-only components stopped');
  }

  /** Stops the current term (manager shutdown). */
  async stop(): Promise<void> {
    await this.set(false);
  }
}
