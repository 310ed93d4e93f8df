// Runs the leader-only work of a manager for exactly as long as it leads: one AbortSignal per
// term. Transitions are serialised, so a quick lose-win-lose never runs two terms at once.
// Within a term a Supervisor keeps every task running (restarts with backoff) and reports one
// that keeps failing, so that the manager can step down for a healthy one.
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { Supervisor, type ComponentHealth, type FailingComponent, type SupervisedComponent, type SupervisionPolicy } from '../supervisor.js';

/** One leader-only activity: runs until the signal aborts, and has stopped writing when it resolves. */
export type LeaderTask = SupervisedComponent;

export interface LeadershipOptions {
  clock: Clock;
  supervision?: Partial<SupervisionPolicy>;
  /** A task failed maxFailures times within the window (once per task per term). */
  onFailing?: (f: FailingComponent) => void;
}

export class Leadership {
  private term: { ac: AbortController; done: Promise<unknown>; supervisor: Supervisor } | undefined;
  private chain: Promise<void> = Promise.resolve();
  private leading = false;

  constructor(
    private readonly tasks: LeaderTask[],
    /** Resolves once this leader's store reflects every committed entry (a read barrier). */
    private readonly catchUp: (signal: AbortSignal) => Promise<void>,
    private readonly log: Logger,
    private readonly o: LeadershipOptions,
  ) {}

  get isLeading(): boolean {
    return this.term !== undefined;
  }

  /** How each leader task fares in this term (empty when not leading). */
  health(): ComponentHealth[] {
    return this.term?.supervisor.health() ?? [];
  }

  /** Called on every leader change; true when this manager now leads. */
  set(leading: boolean): Promise<void> {
    if (leading === this.leading) return this.chain;
    this.leading = leading;
    this.chain = this.chain.then(() => (leading ? this.begin() : this.end())).catch((err: unknown) => {
      this.log.error({ err }, 'leadership transition failed');
    });
    return this.chain;
  }

  private async begin(): Promise<void> {
    if (this.term || !this.leading) return;
    const ac = new AbortController();
    const supervisor = new Supervisor(this.tasks, { clock: this.o.clock, log: this.log, policy: this.o.supervision, onFailing: this.o.onFailing });
    // The components must see the whole committed state before they act on it.
    const done = this.catchUp(ac.signal).then(
      () => {
        if (ac.signal.aborted) return;
        this.log.info({}, 'leader: starting leader-only components');
        return supervisor.run(ac.signal);
      },
      (err: unknown) => this.log.warn({ err }, 'leader: could not catch up; waiting for the next term'),
    );
    this.term = { ac, done, supervisor };
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
