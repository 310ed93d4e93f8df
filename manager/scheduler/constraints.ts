// Placement constraints ("node.labels.zone==a", "node.role!=manager"): parsing, which the
// control API uses to refuse bad ones at create time, and matching against a node.
import { NodeRole, type Node } from '../../proto/gen/types.js';
import type { ReadonlyDeep } from '../store/index.js';

export type ConstraintField =
  | { kind: 'id' }
  | { kind: 'hostname' }
  | { kind: 'role' }
  | { kind: 'os' }
  | { kind: 'arch' }
  | { kind: 'label'; name: string }
  | { kind: 'engine-label'; name: string };

export interface Constraint {
  readonly text: string;
  readonly field: ConstraintField;
  readonly equal: boolean;
  readonly value: string;
}

const FIELDS_HELP = 'node.id, node.hostname, node.role, node.platform.os, node.platform.arch or node.labels.<name>';

/** A constraint the user wrote that cannot be understood; nothing is created from it. */
export class ConstraintError extends Error {
  readonly userError = true as const;
  constructor(
    readonly constraint: string,
    reason: string,
  ) {
    super(`invalid placement constraint "${constraint}": ${reason}`);
    this.name = 'ConstraintError';
  }
}

function parseField(text: string, key: string): ConstraintField {
  const lower = key.toLowerCase();
  switch (lower) {
    case 'node.id':
      return { kind: 'id' };
    case 'node.hostname':
      return { kind: 'hostname' };
    case 'node.role':
      return { kind: 'role' };
    case 'node.platform.os':
      return { kind: 'os' };
    case 'node.platform.arch':
      return { kind: 'arch' };
    default:
      break;
  }
  for (const [prefix, kind] of [
    ['node.labels.', 'label'],
    ['engine.labels.', 'engine-label'],
  ] as const) {
    if (lower.startsWith(prefix)) {
      const name = key.slice(prefix.length);
      if (!name) throw new ConstraintError(text, `no label name after "${prefix}"; write ${prefix}<name>==<value>`);
      return { kind, name };
    }
  }
  throw new ConstraintError(text, `unknown field "${key}"; use ${FIELDS_HELP}`);
}

export function parseConstraint(text: string): Constraint {
  const m = /^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$/.exec(text);
  if (!m) throw new ConstraintError(text, 'expected FIELD==VALUE or FIELD!=VALUE, e.g. node.labels.zone==a');
  const [, key, op, value] = m as unknown as [string, string, string, string];
  if (!value) throw new ConstraintError(text, 'the value is empty');
  if (/[=!]=/.test(value)) throw new ConstraintError(text, 'more than one operator');
  const field = parseField(text, key);
  if (field.kind === 'role' && !['manager', 'worker'].includes(value.toLowerCase())) {
    throw new ConstraintError(text, `node.role is "manager" or "worker", not "${value}"`);
  }
  return { text, field, equal: op === '==', value };
}

/** Parses every constraint of a placement; throws ConstraintError on the first bad one. */
export function parseConstraints(texts: readonly string[]): Constraint[] {
  return texts.map(parseConstraint);
}

function fieldValue(f: ConstraintField, node: ReadonlyDeep<Node>): string | undefined {
  switch (f.kind) {
    case 'id':
      return node.id;
    case 'hostname':
      return node.description?.hostname;
    case 'role':
      return node.role === NodeRole.MANAGER ? 'manager' : 'worker';
    case 'os':
      return node.description?.platform?.os;
    case 'arch':
      return node.description?.platform?.architecture;
    case 'label':
      return node.spec?.annotations?.labels[f.name];
    case 'engine-label':
      return undefined;
  }
}

/** Values compare case-insensitively, as in Swarm; a missing label equals nothing. */
export function matchesConstraint(c: Constraint, node: ReadonlyDeep<Node>): boolean {
  // Engine labels are accepted for compatibility with Docker stack files but not enforced.
  if (c.field.kind === 'engine-label') return true;
  const v = fieldValue(c.field, node);
  const eq = v !== undefined && v.toLowerCase() === c.value.toLowerCase();
  return c.equal ? eq : !eq;
}

export function matchesConstraints(cs: readonly Constraint[], node: ReadonlyDeep<Node>): boolean {
  for (const c of cs) if (!matchesConstraint(c, node)) return false;
  return true;
}

/** A placement preference "spread=node.labels.zone": tasks are spread over the field's values. */
export interface SpreadDescriptor {
  readonly text: string;
  readonly field: ConstraintField;
}

export function parseSpreadDescriptor(text: string): SpreadDescriptor {
  const key = text.trim().replace(/^spread=/i, '');
  if (!key) throw new ConstraintError(text, 'a spread preference needs a field, e.g. node.labels.zone');
  return { text, field: parseField(text, key) };
}

/** The value a node has for a spread descriptor ('' when it lacks the label: its own group). */
export function spreadValue(d: SpreadDescriptor, node: ReadonlyDeep<Node>): string {
  return fieldValue(d.field, node) ?? '';
}
