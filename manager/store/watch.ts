// A watcher's queue of store events. Applying a proposal pushes synchronously, so a reader that
// registers a watch right after a view() misses nothing in between.
import type { ObjectEvent, StoreEvent } from './types.js';

/** Chooses object events; commit and reset markers are always delivered. */
export type EventFilter = (event: ObjectEvent) => boolean;

export class Watcher implements AsyncIterable<StoreEvent> {
  private queue: StoreEvent[] = [];
  private head = 0;
  private waiting: ((e: IteratorResult<StoreEvent>) => void) | undefined;
  private closed = false;

  constructor(
    private readonly filter: EventFilter | undefined,
    private readonly onClose: (w: Watcher) => void,
  ) {}

  /** Events queued and not yet taken. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Called by the store. Commit and reset markers always pass the filter. */
  push(event: StoreEvent): void {
    if (this.closed) return;
    if (this.filter && event.type !== 'commit' && event.type !== 'reset' && !this.filter(event)) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: event, done: false });
      return;
    }
    this.queue.push(event);
  }

  /** The next event without waiting, if one is queued. */
  poll(): StoreEvent | undefined {
    if (this.head >= this.queue.length) return undefined;
    const e = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return e;
  }

  next(): Promise<IteratorResult<StoreEvent>> {
    const e = this.poll();
    if (e) return Promise.resolve({ value: e, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    this.onClose(this);
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
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
}
