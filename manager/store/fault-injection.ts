// Fault injection for tests of supervision on real clusters: a view of a store whose reads
// (view, viewAndWatch: what every component does when it starts and on its passes) throw, while
// writes and everything else go to the real store. Never used unless a test asks for it
// (the daemon's SHOAL_FAULT_STORE_READS).
import type { MemoryStore } from './memory-store.js';

const READS = new Set<PropertyKey>(['view', 'viewAndWatch']);

export function storeWithFailingReads(store: MemoryStore, who: string): MemoryStore {
  return new Proxy(store, {
    get(target, prop) {
      if (READS.has(prop)) {
        return () => {
          throw new Error(`injected fault: store read by ${who} failed`);
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
