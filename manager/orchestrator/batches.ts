// Reconciling many services in transactions of bounded size: each transaction takes services
// in order until it has touched `cap` objects; a service cut short is continued by the next
// one. A proposal still too big halves the cap and tries again.
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { ProposalTooLargeError, type MemoryStore, type WriteTx } from '../store/index.js';
import type { ReconcileOutcome } from './replicated/reconcile.js';

export type ReconcileOne = (tx: WriteTx, serviceId: string, nowMs: number, maxChanges: number) => ReconcileOutcome | undefined;

export interface BatchState {
  /** Objects per transaction; lowered for good when a proposal turns out too big. */
  cap: number;
}

/**
 * Reconciles every id; returns the times at which delayed restarts fall due. On failure the
 * ids not yet written are passed to requeue before the error is rethrown.
 */
export async function reconcileInBatches(
  store: MemoryStore,
  clock: Clock,
  ids: readonly string[],
  state: BatchState,
  one: ReconcileOne,
  requeue: (ids: readonly string[]) => void,
  log: Logger,
): Promise<number[]> {
  const wakeAt: number[] = [];
  let i = 0;
  while (i < ids.length) {
    const now = clock.now();
    const cap = state.cap;
    try {
      const r = await store.update((tx) => {
        const due: number[] = [];
        let k = i;
        for (; k < ids.length && tx.size < cap; k++) {
          const id = ids[k]!;
          const o = one(tx, id, now, cap);
          if (!o) continue;
          due.push(...o.wakeAt);
          if (o.created || o.shutDown) log.info({ serviceId: id, created: o.created, shutDown: o.shutDown }, 'reconciled service');
          if (o.incomplete) break; // the same service again, in the next transaction
        }
        return { next: k, due };
      });
      wakeAt.push(...r.due);
      i = r.next;
    } catch (err) {
      if (err instanceof ProposalTooLargeError && state.cap > 1) {
        state.cap = Math.max(1, state.cap >> 1);
        log.warn({ cap: state.cap, bytes: err.bytes }, 'proposal too large; fewer objects per transaction');
        continue;
      }
      requeue(ids.slice(i));
      throw err;
    }
  }
  return wakeAt;
}
