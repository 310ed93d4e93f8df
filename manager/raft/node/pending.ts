// Callers waiting for something the log will decide: a proposal applied, a read index reached.

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class Pending<T> {
  private seq = 0n;
  private readonly waiting = new Map<bigint, Waiter<T>>();

  next(): bigint {
    return ++this.seq;
  }

  /** Registers `seq`; it rejects with `onTimeout()` unless settled within `ms`. */
  wait(seq: bigint, ms: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        reject(onTimeout());
      }, ms);
      this.waiting.set(seq, { resolve, reject, timer });
    });
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
    clearTimeout(w.timer);
    w.resolve(v);
  }

  reject(seq: bigint, e: Error): void {
    const w = this.waiting.get(seq);
    if (!w) return;
    this.waiting.delete(seq);
    clearTimeout(w.timer);
    w.reject(e);
  }

  rejectAll(e: Error): void {
    for (const seq of [...this.waiting.keys()]) this.reject(seq, e);
  }
}
