// One kind's objects with its secondary indexes. Tables only hold committed state: they are
// changed by MemoryStore's apply path and read by transactions.
import type { KindMap, ObjectKind, ReadonlyDeep } from './types.js';

type IndexFn<T> = (obj: ReadonlyDeep<T>) => string | undefined;

interface TableSpec<K extends ObjectKind> {
  indexes: Record<string, IndexFn<KindMap[K]>>;
  /** The index whose keys must be unique (object names), if any. */
  unique?: string;
}

/** Key of the tasks-by-slot index: replicated tasks by (service, slot), global ones by (service, node). */
export function slotKey(serviceId: string, slot: number, nodeId = ''): string {
  return slot > 0 ? `${serviceId}\u0000${slot}` : `${serviceId}\u0000n:${nodeId}`;
}

function lowerName(a: { readonly annotations?: { readonly name: string } | undefined } | undefined): string | undefined {
  const name = a?.annotations?.name;
  return name ? name.toLowerCase() : undefined;
}

export const TABLE_SPECS: { [K in ObjectKind]: TableSpec<K> } = {
  cluster: { indexes: { name: (c) => lowerName(c.spec) }, unique: 'name' },
  node: { indexes: { hostname: (n) => n.description?.hostname || undefined } },
  service: { indexes: { name: (s) => lowerName(s.spec) }, unique: 'name' },
  task: {
    indexes: {
      service: (t) => t.serviceId || undefined,
      node: (t) => t.nodeId || undefined,
      slot: (t) => (t.serviceId ? slotKey(t.serviceId, t.slot, t.nodeId) : undefined),
    },
  },
  network: { indexes: { name: (n) => lowerName(n.spec) }, unique: 'name' },
  secret: { indexes: { name: (s) => lowerName(s.spec) }, unique: 'name' },
  config: { indexes: { name: (c) => lowerName(c.spec) }, unique: 'name' },
};

/** Index names usable with find() per kind. */
export type IndexName<K extends ObjectKind> = keyof (typeof TABLE_SPECS)[K]['indexes'] & string;

export class Table<K extends ObjectKind> {
  readonly objects = new Map<string, ReadonlyDeep<KindMap[K]>>();
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private readonly spec: TableSpec<K>;

  constructor(readonly kind: K) {
    this.spec = TABLE_SPECS[kind] as TableSpec<K>;
    for (const name of Object.keys(this.spec.indexes)) this.indexes.set(name, new Map());
  }

  get uniqueIndex(): string | undefined {
    return this.spec.unique;
  }

  indexKey(index: string, obj: ReadonlyDeep<KindMap[K]>): string | undefined {
    const fn = this.spec.indexes[index];
    if (!fn) throw new Error(`no index ${index} on ${this.kind}`);
    return fn(obj);
  }

  /** Ids of committed objects with that index key (a live set: copy before changing the table). */
  lookup(index: string, key: string): ReadonlySet<string> {
    const map = this.indexes.get(index);
    if (!map) throw new Error(`no index ${index} on ${this.kind}`);
    return map.get(key) ?? EMPTY;
  }

  put(obj: ReadonlyDeep<KindMap[K]>): void {
    const id = (obj as { id: string }).id;
    const old = this.objects.get(id);
    if (old) this.unindex(id, old);
    this.objects.set(id, obj);
    for (const [name, fn] of Object.entries(this.spec.indexes)) {
      const key = fn(obj);
      if (key === undefined) continue;
      const map = this.indexes.get(name)!;
      let ids = map.get(key);
      if (!ids) map.set(key, (ids = new Set()));
      ids.add(id);
    }
  }

  delete(id: string): void {
    const old = this.objects.get(id);
    if (!old) return;
    this.unindex(id, old);
    this.objects.delete(id);
  }

  clear(): void {
    this.objects.clear();
    for (const map of this.indexes.values()) map.clear();
  }

  private unindex(id: string, obj: ReadonlyDeep<KindMap[K]>): void {
    for (const [name, fn] of Object.entries(this.spec.indexes)) {
      const key = fn(obj);
      if (key === undefined) continue;
      const map = this.indexes.get(name)!;
      const ids = map.get(key);
      if (!ids) continue;
      ids.delete(id);
      if (ids.size === 0) map.delete(key);
    }
  }
}

const EMPTY: ReadonlySet<string> = new Set();
