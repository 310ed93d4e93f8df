// Placement constraints ("node.labels.zone==a", "node.role!=manager"): parsing, which the
// control API uses to refuse bad ones at create time, and matching against a node.
import { NodeRole, type Node } from '../../proto/gen/types.js';
import type { ReadonlyDeep } from '../store/index.js';
import { parseConstraintText, parseSpreadText, type ConstraintField } from '../../rules/constraints.js';

export type { ConstraintField };

export interface Constraint {
  readonly text: string;
  readonly field: ConstraintField;
  readonly equal: boolean;
  readonly value: string;
}

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

/** The grammar is rules/constraints.ts, shared with the CLI and the stack loader. */
export function parseConstraint(text: string): Constraint {
  const r = parseConstraintText(text);
  if (!r.ok) throw new ConstraintError(text, r.why);
  return { text, ...r.value };
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
  const r = parseSpreadText(text);
  if (!r.ok) throw new ConstraintError(text, r.why);
  return { text, field: r.value };
}

/** The value a node has for a spread descriptor ('' when it lacks the label: its own group). */
export function spreadValue(d: SpreadDescriptor, node: ReadonlyDeep<Node>): string {
  return fieldValue(d.field, node) ?? '';
}
