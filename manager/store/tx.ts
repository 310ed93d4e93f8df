// Read and write transactions over the committed tables. A write transaction keeps its changes
// in an overlay (reads see them); at the end they become one list of store actions, and the
// tables change only when that proposal is applied.
import { InvalidObjectError, NameConflictError, ObjectExistsError, ObjectNotFoundError, SequenceConflictError } from './errors.js';
import type { IndexName, Table } from './table.js';
import type { KindMap, ObjectKind, ReadonlyDeep } from './types.js';

type Obj<K extends ObjectKind> = ReadonlyDeep<KindMap[K]>;
type Tables = { [K in ObjectKind]: Table<K> };

export interface ReadTable<K extends ObjectKind> {
  get(id: string): Obj<K> | undefined;
  all(): Obj<K>[];
  /** Objects whose index key equals key ('name' indexes compare case-insensitively). */
  find(index: IndexName<K>, key: string): Obj<K>[];
}

export interface WriteTable<K extends ObjectKind> extends ReadTable<K> {
  /** Adds a new object; its id must be set and unused. */
  create(obj: Obj<K>): void;
  /** Replaces an object; obj.meta.version must be the version it was read at. */
  update(obj: Obj<K>): void;
  delete(id: string): void;
}

export interface ReadTx {
  readonly clusters: ReadTable<'cluster'>;
  readonly nodes: ReadTable<'node'>;
  readonly services: ReadTable<'service'>;
  readonly tasks: ReadTable<'task'>;
  readonly networks: ReadTable<'network'>;
  readonly secrets: ReadTable<'secret'>;
  readonly configs: ReadTable<'config'>;
}

export interface WriteTx extends ReadTx {
  /** Objects touched so far: components cap it to keep each proposal a reasonable size. */
  readonly size: number;
  readonly clusters: WriteTable<'cluster'>;
  readonly nodes: WriteTable<'node'>;
  readonly services: WriteTable<'service'>;
  readonly tasks: WriteTable<'task'>;
  readonly networks: WriteTable<'network'>;
  readonly secrets: WriteTable<'secret'>;
  readonly configs: WriteTable<'config'>;
}

function normKey(index: string, key: string): string {
  return index === 'name' ? key.toLowerCase() : key;
}

function versionOf(obj: { readonly meta?: { readonly version: bigint } | undefined } | undefined): bigint {
  return obj?.meta?.version ?? 0n;
}

class CommittedTable<K extends ObjectKind> implements ReadTable<K> {
  constructor(protected readonly table: Table<K>) {}

  get(id: string): Obj<K> | undefined {
    return this.table.objects.get(id);
  }

  all(): Obj<K>[] {
    return [...this.table.objects.values()];
  }

  find(index: IndexName<K>, key: string): Obj<K>[] {
    const out: Obj<K>[] = [];
    for (const id of this.table.lookup(index, normKey(index, key))) out.push(this.table.objects.get(id)!);
    return out;
  }
}

export function readTx(tables: Tables): ReadTx {
  return {
    clusters: new CommittedTable(tables.cluster),
    nodes: new CommittedTable(tables.node),
    services: new CommittedTable(tables.service),
    tasks: new CommittedTable(tables.task),
    networks: new CommittedTable(tables.network),
    secrets: new CommittedTable(tables.secret),
    configs: new CommittedTable(tables.config),
  };
}

/** One object touched by a write transaction: its committed form (if any) and its new form (null = removed). */
export interface Change<K extends ObjectKind = ObjectKind> {
  readonly kind: K;
  readonly id: string;
  readonly base: Obj<K> | undefined;
  obj: Obj<K> | null;
}

class OverlayTable<K extends ObjectKind> extends CommittedTable<K> implements WriteTable<K> {
  private readonly overlay = new Map<string, Change<K>>();

  constructor(table: Table<K>, private readonly changes: Change[]) {
    super(table);
  }

  override get(id: string): Obj<K> | undefined {
    const c = this.overlay.get(id);
    if (c) return c.obj ?? undefined;
    return this.table.objects.get(id);
  }

  override all(): Obj<K>[] {
    if (this.overlay.size === 0) return super.all();
    const out: Obj<K>[] = [];
    for (const [id, obj] of this.table.objects) if (!this.overlay.has(id)) out.push(obj);
    for (const c of this.overlay.values()) if (c.obj) out.push(c.obj);
    return out;
  }

  override find(index: IndexName<K>, key: string): Obj<K>[] {
    if (this.overlay.size === 0) return super.find(index, key);
    const k = normKey(index, key);
    const out: Obj<K>[] = [];
    for (const id of this.table.lookup(index, k)) if (!this.overlay.has(id)) out.push(this.table.objects.get(id)!);
    for (const c of this.overlay.values()) if (c.obj && this.table.indexKey(index, c.obj) === k) out.push(c.obj);
    return out;
  }

  create(obj: Obj<K>): void {
    const id = (obj as { id: string }).id;
    if (!id) throw new InvalidObjectError(this.table.kind, 'id is empty');
    const existing = this.overlay.get(id);
    // A removed object cannot come back under its id in the same transaction.
    if (existing ? existing.obj || existing.base : this.table.objects.has(id)) throw new ObjectExistsError(this.table.kind, id);
    this.checkUniqueName(id, obj);
    if (existing) {
      existing.obj = obj;
      return;
    }
    const change: Change<K> = { kind: this.table.kind, id, base: undefined, obj };
    this.overlay.set(id, change);
    this.changes.push(change as unknown as Change);
  }

  update(obj: Obj<K>): void {
    const id = (obj as { id: string }).id;
    const existing = this.overlay.get(id);
    const current = existing ? existing.obj : this.table.objects.get(id);
    if (!current) throw new ObjectNotFoundError(this.table.kind, id);
    const stored = existing ? versionOf(existing.base) : versionOf(current);
    const given = versionOf(obj);
    if (given !== stored) throw new SequenceConflictError(this.table.kind, id, given, stored);
    this.checkUniqueName(id, obj);
    if (existing) {
      existing.obj = obj;
      return;
    }
    const change: Change<K> = { kind: this.table.kind, id, base: current, obj };
    this.overlay.set(id, change);
    this.changes.push(change as unknown as Change);
  }

  delete(id: string): void {
    const existing = this.overlay.get(id);
    const current = existing ? existing.obj : this.table.objects.get(id);
    if (!current) throw new ObjectNotFoundError(this.table.kind, id);
    if (existing) {
      existing.obj = null;
      return;
    }
    const change: Change<K> = { kind: this.table.kind, id, base: current, obj: null };
    this.overlay.set(id, change);
    this.changes.push(change as unknown as Change);
  }

  private checkUniqueName(id: string, obj: Obj<K>): void {
    const index = this.table.uniqueIndex;
    if (!index) return;
    const key = this.table.indexKey(index, obj);
    if (key === undefined) return;
    for (const other of this.find(index as IndexName<K>, key)) {
      if ((other as { id: string }).id !== id) {
        const name = (obj as { spec?: { annotations?: { name: string } } }).spec?.annotations?.name ?? key;
        throw new NameConflictError(this.table.kind, name);
      }
    }
  }
}

export function writeTx(tables: Tables, changes: Change[]): WriteTx {
  return {
    get size() {
      return changes.length;
    },
    clusters: new OverlayTable(tables.cluster, changes),
    nodes: new OverlayTable(tables.node, changes),
    services: new OverlayTable(tables.service, changes),
    tasks: new OverlayTable(tables.task, changes),
    networks: new OverlayTable(tables.network, changes),
    secrets: new OverlayTable(tables.secret, changes),
    configs: new OverlayTable(tables.config, changes),
  };
}
