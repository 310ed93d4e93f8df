// The grammar of placement constraints ("node.labels.zone==a", "node.role!=manager") and spread
// preferences: one definition that the stack loader, the CLI, the control API and the scheduler
// all parse with, so a constraint one of them accepts is never refused (or misread) by another.

export type ConstraintField =
  | { kind: 'id' }
  | { kind: 'hostname' }
  | { kind: 'role' }
  | { kind: 'os' }
  | { kind: 'arch' }
  | { kind: 'label'; name: string }
  | { kind: 'engine-label'; name: string };

export interface ParsedConstraint {
  readonly field: ConstraintField;
  readonly equal: boolean;
  readonly value: string;
}

export type Parse<T> = { ok: true; value: T } | { ok: false; why: string };

export const CONSTRAINT_FIELDS_HELP = 'node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>';
const LABEL_NAME = /^[a-zA-Z0-9_][a-zA-Z0-9_.\-/]*$/;
// Values may hold what node labels and hostnames hold, spaces and globs; never an operator.
const VALUE = /^[^=!\s\0][^=!\0]*$/;

export function parseConstraintField(key: string): Parse<ConstraintField> {
  const lower = key.toLowerCase();
  const fixed: Record<string, ConstraintField> = {
    'node.id': { kind: 'id' },
    'node.hostname': { kind: 'hostname' },
    'node.role': { kind: 'role' },
    'node.platform.os': { kind: 'os' },
    'node.platform.arch': { kind: 'arch' },
  };
  if (fixed[lower]) return { ok: true, value: fixed[lower] };
  for (const [prefix, kind] of [
    ['node.labels.', 'label'],
    ['engine.labels.', 'engine-label'],
  ] as const) {
    if (!lower.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    if (!name) return { ok: false, why: `no label name after "${prefix}"; write ${prefix}<name>==<value>` };
    if (!LABEL_NAME.test(name)) return { ok: false, why: `label name "${name}" may hold letters, digits, "_", ".", "-" and "/" only` };
    return { ok: true, value: { kind, name } };
  }
  return { ok: false, why: `unknown field "${key}"; use ${CONSTRAINT_FIELDS_HELP}` };
}

/** Parses one constraint; `why` says what is wrong (callers add the constraint's text). */
export function parseConstraintText(text: string): Parse<ParsedConstraint> {
  const m = /^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$/.exec(text);
  if (!m) return { ok: false, why: 'expected FIELD==VALUE or FIELD!=VALUE, e.g. node.labels.zone==a' };
  const [, key, op, value] = m as unknown as [string, string, string, string];
  if (!value) return { ok: false, why: 'the value is empty' };
  if (/[=!]/.test(value)) return { ok: false, why: `the value "${value}" holds "=" or "!": use exactly one == or != operator` };
  if (!VALUE.test(value)) return { ok: false, why: `the value "${value}" is not a label value` };
  const field = parseConstraintField(key);
  if (!field.ok) return field;
  if (field.value.kind === 'role' && !['manager', 'worker'].includes(value.toLowerCase())) {
    return { ok: false, why: `node.role is "manager" or "worker", not "${value}"` };
  }
  return { ok: true, value: { field: field.value, equal: op === '==', value } };
}

/** The one-line problem with a constraint, or undefined when it is valid. */
export function constraintProblem(text: string): string | undefined {
  const r = parseConstraintText(text);
  return r.ok ? undefined : `invalid placement constraint "${text}": ${r.why}`;
}

/** "spread=node.labels.zone" or "node.labels.zone": the field tasks are spread over. */
export function parseSpreadText(text: string): Parse<ConstraintField> {
  const key = text.trim().replace(/^spread=/i, '');
  if (!key) return { ok: false, why: 'a spread preference needs a field, e.g. node.labels.zone' };
  if (key.toLowerCase() === 'node.role') return { ok: false, why: 'spread over a node label (node.labels.NAME) or node.id, node.hostname, node.platform.os, node.platform.arch' };
  return parseConstraintField(key);
}

export function spreadProblem(text: string): string | undefined {
  const r = parseSpreadText(text);
  return r.ok ? undefined : `invalid spread "${text}": ${r.why}`;
}
