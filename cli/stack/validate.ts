// Schema validation of one file's tree (after interpolation and casting), turned into
// problems that name the key path, its position, and the likely fix.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { composeSchema } from './schema.js';
import { closestKey, misplacedKeyHint } from './suggest.js';
import { showPath, type KeyPath, type Plain, type PlainMap, type PositionIndex } from './tree.js';
import type { StackProblem } from './errors.js';

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  // strict: false because union types with per-type keywords are deliberate in our schema.
  compiled ??= new Ajv({ allErrors: true, verbose: true, strict: false }).compile(composeSchema);
  return compiled;
}

/** `paths` receives the key path of every value found wrong (to cut out before later checks). */
export function validateSchema(root: PlainMap, file: string, positions: PositionIndex, paths: KeyPath[] = []): StackProblem[] {
  const validate = validator();
  if (validate(root)) return [];
  const problems: StackProblem[] = [];
  const seen = new Set<string>();
  for (const e of validate.errors ?? []) {
    paths.push(e.keyword === 'additionalProperties'
      ? [...pointerToPath(e.instancePath, root), String((e.params as { additionalProperty: string }).additionalProperty)]
      : pointerToPath(e.instancePath, root));
    const p = describe(e, root, file, positions);
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(p);
    if (problems.length >= 50) break;
  }
  return problems;
}

/** The key path of a JSON pointer; list indexes become numbers so they print as `volumes[8]`. */
function pointerToPath(pointer: string, root: Plain): (string | number)[] {
  if (pointer === '') return [];
  const out: (string | number)[] = [];
  let cur: Plain | undefined = root;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const index = Array.isArray(cur) && /^\d+$/.test(seg) ? Number(seg) : undefined;
    out.push(index ?? seg);
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, Plain>)[seg] : undefined;
  }
  return out;
}

function valueAt(root: Plain, path: KeyPath): Plain | undefined {
  let cur: Plain | undefined = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, Plain>)[String(seg)];
  }
  return cur;
}

function describe(e: ErrorObject, root: PlainMap, file: string, positions: PositionIndex): StackProblem {
  const path = pointerToPath(e.instancePath, root);
  const here = showPath(path);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const keyPath = [...path, key];
      const siblings = Object.keys(((e.parentSchema as { properties?: object } | undefined)?.properties) ?? {});
      return { ...positions.locateKey(keyPath, file), path: showPath(keyPath), message: unknownKeyMessage(key, siblings, path) };
    }
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      return { ...positions.locateValue(path, file), path: here || '<top level>', message: `missing required key \`${missing}\`` };
    }
    case 'type': {
      const wanted = ([] as string[]).concat((e.params as { type: string | string[] }).type as string | string[]);
      const got = valueAt(root, path);
      return { ...positions.locateValue(path, file), path: here, message: `expected ${describeTypes(wanted, path)}, got ${describeValue(got)}` };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      return { ...positions.locateValue(path, file), path: here, message: `must be one of ${allowed.join(', ')}; got ${describeValue(valueAt(root, path))}` };
    }
    case 'minimum':
    case 'maximum': {
      const limit = (e.params as { limit: number }).limit;
      const word = e.keyword === 'minimum' ? 'at least' : 'at most';
      return { ...positions.locateValue(path, file), path: here, message: `must be ${word} ${limit}; got ${describeValue(valueAt(root, path))}` };
    }
    default:
      return { ...positions.locateValue(path, file), path: here, message: e.message ?? 'invalid value' };
  }
}

function unknownKeyMessage(key: string, siblings: string[], parent: KeyPath): string {
  const near = closestKey(key, siblings);
  if (near) return `unknown key \`${key}\`: did you mean \`${near}\`?`;
  const isService = parent.length === 2 && parent[0] === 'services';
  if (isService && key === 'extends') return '`extends` is not supported in stack files: put the shared part in a base file and merge with -c BASE -c FILE, or use a YAML anchor';
  const elsewhere = isService ? misplacedKeyHint(key) : undefined;
  if (elsewhere) return `\`${key}\` is not a service key: use \`${elsewhere}\``;
  if (parent.length === 0) return `unknown top-level key \`${key}\`: valid keys are services, networks, volumes, secrets, configs, version, and x-* extensions`;
  const shown = siblings.filter((s) => !s.startsWith('x-')).slice(0, 12);
  return `unknown key \`${key}\`: valid keys here are ${shown.join(', ')}${siblings.length > 12 ? ', ...' : ''} (or x-* extensions)`;
}

function describeTypes(types: string[], path: KeyPath): string {
  const last = path[path.length - 1];
  if (path.length === 1 && ['services', 'networks', 'volumes', 'secrets', 'configs'].includes(String(last))) {
    return `a mapping of ${String(last)} by name`;
  }
  const words: Record<string, string> = {
    object: 'a mapping', array: 'a list', string: 'a string', integer: 'a whole number',
    number: 'a number', boolean: 'true or false', null: 'nothing',
  };
  return types.map((t) => words[t] ?? t).join(' or ');
}

export function describeValue(v: Plain | undefined): string {
  if (v === undefined || v === null) return 'nothing (empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  return String(v);
}
