// A watcher's queue of store events. Applying a proposal pushes synchronously, so a reader that
// registers a watch right after a view() misses nothing in between. The queue is bounded (events
// and encoded bytes): a reader that falls further behind either loses its queue and gets one
// 'reset' (components that re-read everything anyway) or is closed with WatchFellBehindError
// naming the version to resume from (clients: WatchTasks), so one slow reader cannot grow the
// manager's memory without end.
import { WatchFellBehindError } from './errors.js';
import type { ObjectEvent, StoreEvent } from './types.js';

/** Chooses object events; commit and reset markers are always delivered. */
export type EventFilter = (event: ObjectEvent) => boolean;

/** How far a reader may fall behind: events queued (commit markers included) and their encoded bytes. */
export interface WatchLimits {
  maxEvents: number;
  maxBytes: number;
}

/**
 * 10,000 events: a burst of ten full proposals of small tasks; a component that falls further
 * behind re-reads the state instead (no more work than the events). 16 MiB of encoded changes
 * bounds a queue of big objects (specs up to 1 MiB) the same way.
 */
export const DEFAULT_WATCH_LIMITS: Readonly<WatchLimits> = { maxEvents: 10_000, maxBytes: 16 * 1024 * 1024 };

/**
 * What happens when the queue overflows: 'close' ends the watch with WatchFellBehindError (the
 * default: a client resumes from a version); 'reset' drops the queue for one reset event (the
 * reader re-reads everything, as after a snapshot restore).
 */
export type OverflowPolicy = 'close' | 'reset';

export interface WatcherSetup {
  filter?: EventFilter;
  limits?: Partial<WatchLimits>;
  onOverflow?: OverflowPolicy;
  /** Told once when the watcher is closed for falling behind (before any reader sees it). */
  onFellBehind?: (err: WatchFellBehindError) => void;
  /** The store version the reader's view is at: where a resume would start if nothing was taken. */
  startVersion?: bigint;
}

export class Watcher implements AsyncIterable<StoreEvent> {
  /** Taken slots before head are emptied at once, so what they held can be collected. */
  private queue: (StoreEvent | undefined)[] = [];
  private sizes: number[] = [];
  private head = 0;
  private bytes = 0;
  private waiting: { resolve: (e: IteratorResult<StoreEvent>) => void; reject: (err: Error) => void } | undefined;
  private closed = false;
  private failure: WatchFellBehindError | undefined;
  private readonly limits: WatchLimits;
  /** Extra room for events replayed from history at start (the history holds them anyway). */
  private allowance = { events: 0, bytes: 0 };
  /** Version of the last commit (or reset) the reader took. */
  private taken: bigint;
  /** Version of the last commit pushed, for the reset an overflow leaves. */
  private pushed: bigint;
  private readonly filter: EventFilter | undefined;
  private readonly policy: OverflowPolicy;
  private readonly onFellBehind: ((err: WatchFellBehindError) => void) | undefined;
  /** Times the queue overflowed into a reset. */
  overflows = 0;

  constructor(
    setup: WatcherSetup,
    private readonly onClose: (w: Watcher) => void,
  ) {
    this.filter = setup.filter;
    this.limits = { ...DEFAULT_WATCH_LIMITS, ...setup.limits };
    this.policy = setup.onOverflow ?? 'close';
    this.onFellBehind = setup.onFellBehind;
    this.taken = setup.startVersion ?? 0n;
    this.pushed = this.taken;
  }

  /** Events queued and not yet taken. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Encoded bytes of the changes queued and not yet taken (an estimate: the proposal's size shared out). */
  get pendingBytes(): number {
    return this.bytes;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Why the watcher closed itself, if it fell behind. */
  get error(): WatchFellBehindError | undefined {
    return this.failure;
  }

  /** The version of the last commit the reader took: resume from here. */
  get version(): bigint {
    return this.taken;
  }

  /** Called by the store with the encoded size of the change. Commit and reset markers always pass the filter. */
  push(event: StoreEvent, bytes = 0): void {
    if (this.closed) return;
    if (this.filter && event.type !== 'commit' && event.type !== 'reset' && !this.filter(event)) return;
    if (event.type === 'commit' || event.type === 'reset') this.pushed = event.version;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      this.took(event);
      w.resolve({ value: event, done: false });
      return;
    }
    // A commit right after a commit marks nothing new for this reader (its filter took no event
    // in between): keep the newer one only, so unrelated writes do not fill a filtered queue.
    const last = this.pending > 0 ? this.queue[this.queue.length - 1] : undefined;
    if (event.type === 'commit' && last?.type === 'commit') {
      this.queue[this.queue.length - 1] = event;
      return;
    }
    this.queue.push(event);
    this.sizes.push(bytes);
    this.bytes += bytes;
    if (this.pending > this.limits.maxEvents + this.allowance.events || this.bytes > this.limits.maxBytes + this.allowance.bytes) this.overflow();
  }

  /** Room for `events` replayed from the store's history (shared with it, so no extra memory). */
  allow(events: number, bytes: number): void {
    this.allowance = { events, bytes };
  }

  /** The next event without waiting, if one is queued; throws if the watcher fell behind. */
  poll(): StoreEvent | undefined {
    if (this.head >= this.queue.length) {
      if (this.failure) throw this.failure;
      return undefined;
    }
    const e = this.queue[this.head]!;
    this.queue[this.head] = undefined;
    this.bytes -= this.sizes[this.head]!;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
    if (this.pending === 0) this.allowance = { events: 0, bytes: 0 };
    this.took(e);
    return e;
  }

  next(): Promise<IteratorResult<StoreEvent>> {
    try {
      const e = this.poll();
      if (e) return Promise.resolve({ value: e, done: false });
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.drop();
    this.onClose(this);
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<StoreEvent> {
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private took(e: StoreEvent): void {
    if (e.type === 'commit' || e.type === 'reset') this.taken = e.version;
  }

  private drop(): void {
    this.queue = [];
    this.sizes = [];
    this.head = 0;
    this.bytes = 0;
    this.allowance = { events: 0, bytes: 0 };
  }

  private overflow(): void {
    const byCount = this.pending > this.limits.maxEvents + this.allowance.events;
    const limit = byCount ? `${this.limits.maxEvents} events` : `${this.limits.maxBytes} bytes of changes`;
    this.drop();
    if (this.policy === 'reset') {
      this.overflows++;
      this.queue.push({ type: 'reset', version: this.pushed });
      this.sizes.push(0);
      return;
    }
    this.failure = new WatchFellBehindError(limit, this.taken);
    this.closed = true;
    this.onClose(this);
    this.onFellBehind?.(this.failure);
  }
}
