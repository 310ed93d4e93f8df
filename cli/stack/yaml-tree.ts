// Parses one stack file's text into a plain tree with positions. We convert the YAML AST
// ourselves (rather than doc.toJS()) to expand aliases and merge keys under a budget of
// expanded nodes, which bounds a billion-laughs document without capping honest alias use.
import {
  parseAllDocuments, LineCounter, isAlias, isMap, isSeq, isScalar, isPair, visit,
  type Document, type Node, type ScalarTag, type YAMLMap,
} from 'yaml';
import { ProblemList, StackFileError } from './errors.js';
import type { StackLimits } from './limits.js';
import { newMap, hasKey, PositionIndex, showPath, type KeyPath, type Plain, type PlainMap } from './tree.js';

/** `0440` is octal, as Docker's YAML 1.1 reader sees it; YAML 1.2 would read decimal 440. */
const legacyOctal: ScalarTag = {
  identify: (v) => typeof v === 'number',
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /^0[0-7]+$/,
  resolve: (s) => parseInt(s, 8),
};

const allowedTags = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

export interface ParsedFile {
  readonly file: string;
  readonly root: PlainMap;
  readonly positions: PositionIndex;
}

export function parseStackYaml(file: string, text: string, limits: StackLimits): ParsedFile {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter: lines, uniqueKeys: true, merge: false, prettyErrors: false, version: '1.2',
    customTags: (tags) => [legacyOctal, ...tags], strict: true, stringKeys: false,
  });
  const problems = new ProblemList();
  const at = (offset: number) => lines.linePos(offset);
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    // Unknown tags are reported by the converter below, which knows the key path.
    for (const e of [...doc.errors, ...doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED')]) {
      const { line, col } = at(e.pos[0]);
      const path = pathAtOffset(doc.contents, e.pos[0]);
      problems.add({ file, line, column: col, path: showPath(path), message: yamlMessage(e.code, e.message, path) });
    }
  }
  problems.throwIfAny();
  if (list.length > 1) {
    const second = list[1]!;
    const { line, col } = at(second.range[0]);
    throw new StackFileError([{ file, line, column: col, path: '', message: 'a second YAML document starts here: a stack file holds one document; merge the two or pass them as two -c files' }]);
  }
  const doc = list[0];
  if (!doc || doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    throw new StackFileError([{ file, line: 1, column: 1, path: '', message: 'the file is empty: expected a mapping with a `services:` key' }]);
  }
  const positions = new PositionIndex();
  const conv = new Converter(file, doc, lines, limits, positions, problems);
  const root = conv.convert(doc.contents, [], 0);
  problems.throwIfAny();
  if (root === null || typeof root !== 'object' || Array.isArray(root)) {
    const { line, col } = at(doc.contents.range?.[0] ?? 0);
    throw new StackFileError([{ file, line, column: col, path: '', message: `the top level is a ${Array.isArray(root) ? 'list' : 'scalar'}: expected a mapping with a \`services:\` key` }]);
  }
  return { file, root, positions };
}

/** The key path of the innermost mapping entry or list item whose source contains `offset`. */
function pathAtOffset(node: unknown, offset: number, depth = 0): (string | number)[] {
  const inside = (n: unknown) => {
    const r = (n as Node | null)?.range;
    return r !== undefined && r !== null && offset >= r[0] && offset <= r[2];
  };
  if (depth > 100) return [];
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined) continue;
      if (inside(pair.key)) return [key];
      if (inside(pair.value)) return [key, ...pathAtOffset(pair.value, offset, depth + 1)];
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      if (inside(node.items[i])) return [i, ...pathAtOffset(node.items[i], offset, depth + 1)];
    }
  }
  return [];
}

function yamlMessage(code: string, message: string, path: KeyPath): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '');
  switch (code) {
    case 'DUPLICATE_KEY': {
      const key = path[path.length - 1];
      return key === undefined ? 'duplicate key in one mapping: keep one of them' : `duplicate key \`${String(key)}\`: keep one of them`;
    }
    case 'TAB_AS_INDENT': return 'a tab is used for indentation: YAML indents with spaces only';
    case 'TAG_RESOLVE_FAILED': return `${first}: stack files take plain YAML values, remove the tag`;
    case 'RESOURCE_EXHAUSTION': return 'the document nests too deeply';
    default: return `YAML syntax error: ${first}`;
  }
}

class Converter {
  private nodes = 0;
  private exhausted = false;
  /** Anchor name -> definitions in document order. yaml's Alias.resolve walks the whole
   *  document per call, which would make alias-heavy files quadratic. */
  private anchors: Map<string, { offset: number; node: Node }[]> | undefined;
  /** Anchored nodes whose alias is being expanded right now (to refuse cycles). */
  private readonly expanding = new Set<Node>();

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
    if (++this.nodes > this.limits.maxExpandedNodes) {
      this.exhausted = true;
      return this.fail((node as Node | null)?.range?.[0], path,
        `the document expands to more than ${this.limits.maxExpandedNodes} nodes (aliases included): is an alias nested into itself many times?`);
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
    for (const pair of m.items) {
      if (!isPair(pair) || isMergeKey(pair.key)) continue;
      const keyNode = pair.key as Node | null;
      const key = this.keyOf(keyNode, path);
      if (key === null) continue;
      const childPath = [...path, key];
      if (keyNode?.range) this.positions.setKey(this.file, childPath, this.pos(keyNode.range[0]));
      out[key] = this.convert(pair.value, childPath, depth + 1);
    }
    return out;
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
