// Callers waiting for something the log will decide: a proposal applied, a read index reached.
// Deadlines are checked by expire(), which the driver calls on its tick: a request on the hot
// path creates no timer of its own (one timer per write was a timer set and cleared per write).

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
  deadline: number;
  onTimeout: () => Error;
}

export class Pending<T> {
  private seq = 0n;
  private readonly waiting = new Map<bigint, Waiter<T>>();

  next(): bigint {
    return ++this.seq;
  }

  /** Registers `seq`; expire() rejects it with `onTimeout()` once `now` passes `deadline`. */
  wait(seq: bigint, deadline: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject, deadline, onTimeout });
    });
  }

  /** Rejects every waiter whose deadline is before `now`. Waiters are kept in registration
   *  order and deadlines follow it closely, so the scan stops at the first one still in time. */
  expire(now: number): void {
    for (const [seq, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(seq);
      w.reject(w.onTimeout());
    }
  }

  has(seq: bigint): boolean {
    return this.waiting.has(seq);
  }

  get size(): number {
    return this.waiting.size;
  }

  resolve(seq: bigint, v: T): void {
    const w = this.waiting.get(seq);
    if (!w) return;
    this.waiting.delete(seq);
    w.resolve(v);
  }

  reject(seq: bigint, e: Error): void {
    const w = this.waiting.get(seq);
    if (!w) return;
    this.waiting.delete(seq);
    w.reject(e);
  }

  rejectAll(e: Error): void {
    for (const seq of [...this.waiting.keys()]) this.reject(seq, e);
  }
}
