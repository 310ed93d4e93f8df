// The plain value tree the loader works on, and where each of its keys and values came from.
// Objects have no prototype so that keys such as `__proto__` or `constructor` are just keys.

export type Plain = string | number | boolean | null | PlainList | PlainMap;
export type PlainList = Plain[];
export interface PlainMap { [key: string]: Plain }

export type KeyPath = readonly (string | number)[];

/** A string-keyed record without a prototype: `spec.networks["toString"]` is undefined. */
export function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

export function newMap(): PlainMap {
  return Object.create(null) as PlainMap;
}

export function isMap(v: Plain | undefined): v is PlainMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function hasKey(m: PlainMap, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(m, k);
}

/** services.web.ports[0].published: how paths appear in messages. */
export function showPath(path: KeyPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out;
}

function indexKey(path: KeyPath): string {
  return path.join('\u0000');
}

export interface Position { readonly line: number; readonly column: number }

/** Positions of keys and values by path, for one file or for a merge of several. */
export class PositionIndex {
  private readonly keys = new Map<string, { file: string; pos: Position }>();
  private readonly values = new Map<string, { file: string; pos: Position }>();

  setKey(file: string, path: KeyPath, pos: Position): void { this.keys.set(indexKey(path), { file, pos }); }
  setValue(file: string, path: KeyPath, pos: Position): void { this.values.set(indexKey(path), { file, pos }); }

  /** Where the value at `path` (or its nearest ancestor that has a position) was written. */
  locateValue(path: KeyPath, fallbackFile: string): { file: string; line?: number; column?: number } {
    return this.lookup(this.values, path, fallbackFile);
  }

  /** Where the key that ends `path` was written (falls back to the value, then ancestors). */
  locateKey(path: KeyPath, fallbackFile: string): { file: string; line?: number; column?: number } {
    const k = this.keys.get(indexKey(path));
    if (k) return { file: k.file, line: k.pos.line, column: k.pos.column };
    return this.lookup(this.values, path, fallbackFile);
  }

  private lookup(map: Map<string, { file: string; pos: Position }>, path: KeyPath, fallbackFile: string) {
    for (let n = path.length; n >= 0; n--) {
      const hit = map.get(indexKey(path.slice(0, n))) ?? this.keys.get(indexKey(path.slice(0, n)));
      if (hit) return { file: hit.file, line: hit.pos.line, column: hit.pos.column };
    }
    return { file: fallbackFile };
  }

  /** Later files win: copy every position of `other` over this index. */
  absorb(other: PositionIndex): void {
    for (const [k, v] of other.keys) this.keys.set(k, v);
    for (const [k, v] of other.values) this.values.set(k, v);
  }
}
