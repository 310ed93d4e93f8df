// Converts the yaml package's AST of one document into a plain tree with positions. Aliases
// and `<<` merge keys are expanded here, under a budget of expanded nodes: that bounds a
// billion-laughs document without capping honest alias use.
import { LineCounter, isAlias, isMap, isSeq, isScalar, isPair, visit, type Document, type Node, type YAMLMap } from 'yaml';
import type { ProblemList } from './errors.js';
import { tooManyValues, type StackLimits } from './limits.js';
import { newMap, hasKey, showPath, type KeyPath, type Plain, type PlainMap, type PositionIndex } from './tree.js';

const allowedTags = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

export class Converter {
  private nodes = 0;
  /** Nodes converted while expanding an alias: whether aliases are to blame for a big document. */
  private aliasNodes = 0;
  private exhausted = false;
  /** Anchor name -> definitions in document order. yaml's Alias.resolve walks the whole
   *  document per call, which would make alias-heavy files quadratic. */
  private anchors: Map<string, { offset: number; node: Node }[]> | undefined;
  /** Anchored nodes whose alias is being expanded right now (to refuse cycles). */
  private readonly expanding = new Set<Node>();
  private readonly duplicatesSeen = new Set<number>();

  constructor(
    private readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly limits: StackLimits,
    private readonly positions: PositionIndex,
    private readonly problems: ProblemList,
  ) {}

  /** The latest anchor of that name defined before the alias, as YAML resolves them. */
  private anchorFor(name: string, offset: number): Node | undefined {
    if (!this.anchors) {
      this.anchors = new Map();
      const anchors = this.anchors;
      visit(this.doc, (_key, n) => {
        if ((isScalar(n) || isMap(n) || isSeq(n)) && n.anchor) {
          const list = anchors.get(n.anchor) ?? [];
          list.push({ offset: n.range?.[0] ?? 0, node: n });
          anchors.set(n.anchor, list);
        }
      });
    }
    let found: Node | undefined;
    for (const a of this.anchors.get(name) ?? []) if (a.offset < offset) found = a.node;
    return found;
  }

  private pos(offset: number | undefined) {
    const { line, col } = this.lines.linePos(offset ?? 0);
    return { line, column: col };
  }

  private fail(offset: number | undefined, path: KeyPath, message: string): null {
    this.problems.add({ file: this.file, ...this.pos(offset), path: showPath(path), message });
    return null;
  }

  convert(node: unknown, path: KeyPath, depth: number): Plain {
    if (this.exhausted) return null;
    if (this.expanding.size > 0) this.aliasNodes++;
    if (++this.nodes > this.limits.maxExpandedNodes) {
      this.exhausted = true;
      const max = this.limits.maxExpandedNodes;
      // Blame aliases only when they made most of the document.
      const why = this.aliasNodes * 2 > this.nodes
        ? `the document expands to more than ${max} values once its aliases are expanded (${this.aliasNodes} of them come from aliases): is an alias nested into itself many times?`
        : tooManyValues(max, 'values (keys\' values and list items)');
      return this.fail((node as Node | null)?.range?.[0], path, why);
    }
    if (depth > this.limits.maxDepth) {
      this.exhausted = true;
      return this.fail((node as Node | null)?.range?.[0], path, `nesting deeper than ${this.limits.maxDepth} levels`);
    }
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = this.anchorFor(node.source, node.range?.[0] ?? 0);
      if (!target) return this.fail(node.range?.[0], path, `unknown alias *${node.source}: define the anchor &${node.source} before using it`);
      if (this.expanding.has(target)) {
        this.exhausted = true;
        return this.fail(node.range?.[0], path, `alias *${node.source} is used inside its own anchor: an alias must refer to a finished node`);
      }
      this.expanding.add(target);
      try {
        return this.convert(target, path, depth + 1);
      } finally {
        this.expanding.delete(target);
      }
    }
    const n = node as Node;
    if (n.tag !== undefined && !allowedTags.has(n.tag)) {
      return this.fail(n.range?.[0], path, `unsupported tag ${n.tag.replace('tag:yaml.org,2002:', '!!')}: stack files take plain YAML values, remove the tag`);
    }
    this.positions.setValue(this.file, path, this.pos(n.range?.[0]));
    if (isScalar(n)) return this.scalar(n.value, n.range?.[0], path);
    if (isSeq(n)) return n.items.map((item, i) => this.convert(item, [...path, i], depth + 1));
    if (isMap(n)) return this.mapping(n, path, depth);
    return this.fail(n.range?.[0], path, 'unsupported YAML node');
  }

  private scalar(v: unknown, offset: number | undefined, path: KeyPath): Plain {
    if (typeof v === 'string') {
      if (v.length > this.limits.maxScalarChars) {
        return this.fail(offset, path, `a value longer than ${this.limits.maxScalarChars} characters: put large data in a config or secret file`);
      }
      return v;
    }
    if (typeof v === 'number' || typeof v === 'boolean' || v === null) return v;
    if (typeof v === 'bigint') return Number(v);
    return this.fail(offset, path, 'unsupported value type');
  }

  private keyOf(k: unknown, path: KeyPath): string | null {
    let node = k as Node | null;
    if (node === null || node === undefined) return this.fail(undefined, path, 'a mapping key is empty');
    if (isAlias(node)) node = this.anchorFor(node.source, node.range?.[0] ?? 0) ?? node;
    if (isScalar(node) && node.value !== null && typeof node.value !== 'object') {
      const s = String(node.value);
      if (s.length > 1024) return this.fail(node.range?.[0], path, 'a mapping key longer than 1024 characters');
      // Consumers of the spec are plain JavaScript objects; this one key would change their prototype.
      if (s === '__proto__') return this.fail((k as Node).range?.[0], path, '`__proto__` cannot be used as a key: rename it');
      return s;
    }
    return this.fail(node.range?.[0], path, 'a mapping key must be a plain string, not a list, mapping or null');
  }

  private mapping(m: YAMLMap, path: KeyPath, depth: number): PlainMap {
    const out = newMap();
    // YAML merge keys: explicit keys win; among merged maps, the earlier one wins. Merged maps
    // are converted first so that positions of explicit keys overwrite those of the anchors.
    const sources: Node[] = [];
    for (const pair of m.items) {
      if (isPair(pair) && isMergeKey(pair.key)) this.mergeSources(pair.value, sources);
    }
    const fromMerge = newMap();
    for (const src of sources) {
      const value = this.convert(src, path, depth + 1);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        this.fail(src.range?.[0], path, '`<<` merges mappings only: point it at an anchored mapping or a list of them');
        continue;
      }
      for (const k of Object.keys(value)) {
        if (!hasKey(fromMerge, k)) fromMerge[k] = value[k]!;
      }
    }
    for (const k of Object.keys(fromMerge)) out[k] = fromMerge[k]!;
    if (sources.length > 0) this.positions.setValue(this.file, path, this.pos(m.range?.[0]));
    const explicit = new Set<string>();
    let merges = 0;
    for (const pair of m.items) {
      if (!isPair(pair)) continue;
      if (isMergeKey(pair.key)) {
        if (++merges === 2) this.duplicate(pair.key as Node, path, '<<');
        continue;
      }
      const keyNode = pair.key as Node | null;
      const key = this.keyOf(keyNode, path);
      if (key === null) continue;
      if (explicit.has(key)) {
        this.duplicate(keyNode, [...path, key], key);
        continue;
      }
      explicit.add(key);
      const childPath = [...path, key];
      if (keyNode?.range) this.positions.setKey(this.file, childPath, this.pos(keyNode.range[0]));
      out[key] = this.convert(pair.value, childPath, depth + 1);
    }
    return out;
  }

  /** Once per key in the source, however often an alias expands its mapping. */
  private duplicate(keyNode: Node | null, path: KeyPath, key: string): void {
    const offset = keyNode?.range?.[0] ?? -1;
    if (this.duplicatesSeen.has(offset)) return;
    this.duplicatesSeen.add(offset);
    this.fail(keyNode?.range?.[0], path, `duplicate key \`${key}\`: keep one of them`);
  }

  private mergeSources(value: unknown, into: Node[]): void {
    const v = value as Node | null;
    if (isSeq(v)) {
      for (const item of v.items) into.push(item as Node);
    } else if (v) {
      into.push(v);
    }
  }
}

// The yaml package's own merge support is off (we expand merges under our node budget), so a
// merge key arrives as the plain scalar "<<"; a quoted '<<' stays an ordinary key.
function isMergeKey(key: unknown): boolean {
  return isScalar(key) && key.value === '<<' && key.type === 'PLAIN';
}
