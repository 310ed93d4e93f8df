// Writes that arrive while an earlier one is in flight join the next transaction: the first
// write goes at once, and under load (a thousand agents registering after a leader change) the
// store sees a few large proposals instead of one Raft round trip per node.
import type { MemoryStore, WriteTx } from '../store/index.js';

interface Entry<I, R> {
  item: I;
  resolve(r: R): void;
  reject(e: Error): void;
}

export class GroupCommit<I, R> {
  private queue: Entry<I, R>[] = [];
  private inflight = false;

  constructor(
    private readonly store: MemoryStore,
    /** Applies one item; a throw fails that item alone (it must throw before writing). */
    private readonly apply: (tx: WriteTx, item: I) => R,
    private readonly maxBatch = 1_000,
  ) {}

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.inflight) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.inflight = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const outcomes = await this.store.update((tx) =>
          batch.map((e): { ok: R } | { err: Error } => {
            try {
              return { ok: this.apply(tx, e.item) };
            } catch (err) {
              return { err: err as Error };
            }
          }),
        );
        outcomes.forEach((o, i) => ('ok' in o ? batch[i]!.resolve(o.ok) : batch[i]!.reject(o.err)));
      } catch (err) {
        for (const e of batch) e.reject(err as Error);
      }
    }
    this.inflight = false;
  }
}
