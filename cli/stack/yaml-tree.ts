// Parses one stack file's text: YAML errors with line, column and key path, one document only,
// then the AST goes to yaml-convert.ts, which expands aliases under a node budget (so we do not
// use doc.toJS(), whose alias limit would refuse honest files with many aliases).
import { parseAllDocuments, LineCounter, isMap, isSeq, isScalar, type Node, type ScalarTag } from 'yaml';
import { ProblemList, StackFileError } from './errors.js';
import { tooManyValues, type StackLimits } from './limits.js';
import { Converter } from './yaml-convert.js';
import { countEntryLines } from './entry-count.js';
import { PositionIndex, showPath, type KeyPath, type PlainMap } from './tree.js';

/** `0440` is octal, as Docker's YAML 1.1 reader sees it; YAML 1.2 would read decimal 440. */
const legacyOctal: ScalarTag = {
  identify: (v) => typeof v === 'number',
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /^0[0-7]+$/,
  resolve: (s) => parseInt(s, 8),
};

export interface ParsedFile {
  readonly file: string;
  readonly root: PlainMap;
  readonly positions: PositionIndex;
}

export function parseStackYaml(file: string, text: string, limits: StackLimits): ParsedFile {
  // Before the parser: a file with more entries than the node budget is refused at once.
  const pre = countEntryLines(text, limits.maxExpandedNodes);
  if (pre.line > 0) {
    throw new StackFileError([{ file, line: pre.line, column: 1, path: '', message: tooManyValues(limits.maxExpandedNodes, 'keys and list items') }]);
  }
  const lines = new LineCounter();
  const docs = withPlainEnv(() => parseAllDocuments(text, {
    // uniqueKeys: false because the yaml package compares each key with every earlier one
    // (quadratic: 32,000 labels took 7.5 s); yaml-convert.ts checks duplicates with a Set.
    lineCounter: lines, uniqueKeys: false, merge: false, prettyErrors: false, version: '1.2',
    customTags: (tags) => [legacyOctal, ...tags], strict: true, stringKeys: false,
  }));
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

/** The yaml package reads process.env.LOG_TOKENS once per token, and each read of the real
 *  environment is a call into C++: a third of the parse. Parsing is synchronous, so nothing
 *  else can observe the plain object that stands in for it meanwhile. */
function withPlainEnv<T>(parse: () => T): T {
  const env = process.env;
  process.env = Object.create(null) as NodeJS.ProcessEnv;
  try {
    return parse();
  } finally {
    process.env = env;
  }
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

