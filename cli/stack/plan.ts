// What `shoal stack deploy --dry-run` will print: the services a deploy would create, update
// (with a field-by-field diff) or remove, computed from the specs the cluster holds now and the
// loaded stack. Pure: the deploy command fetches the current specs and applies the plan.
import type { ServiceSpec, StackSpec } from './model.js';
import { leftOutReason } from './profiles.js';

export interface FieldChange {
  /** Dotted path inside the service spec, e.g. deploy.replicas or environment.LOG. */
  path: string;
  before?: unknown;
  after?: unknown;
}

export type ServicePlan =
  | { action: 'create'; service: string }
  | { action: 'update'; service: string; changes: FieldChange[] }
  | { action: 'remove'; service: string }
  /** In the cluster but not in the file, and --prune was not given. */
  | { action: 'keep'; service: string }
  | { action: 'unchanged'; service: string }
  /** In the file, but none of its profiles is active: neither created, updated nor removed. */
  | { action: 'left-out'; service: string; profiles: string[] };

export interface StackPlan {
  services: ServicePlan[];
  /** True when applying the plan changes nothing. */
  empty: boolean;
}

export function planStack(current: Readonly<Record<string, ServiceSpec>>, desired: StackSpec, opts: { prune: boolean }): StackPlan {
  const services: ServicePlan[] = [];
  const names = [...new Set([...Object.keys(desired.services), ...Object.keys(current)])].sort();
  for (const service of names) {
    const want = Object.prototype.hasOwnProperty.call(desired.services, service) ? desired.services[service] : undefined;
    const have = Object.prototype.hasOwnProperty.call(current, service) ? current[service] : undefined;
    if (want && !have) services.push({ action: 'create', service });
    else if (!want) services.push({ action: opts.prune ? 'remove' : 'keep', service });
    else {
      const changes = diffValues(have, want, '');
      services.push(changes.length ? { action: 'update', service, changes } : { action: 'unchanged', service });
    }
  }
  return { services, empty: services.every((s) => s.action === 'unchanged' || s.action === 'keep') };
}

/** Actions that change nothing in the cluster. */
export function isNoop(s: ServicePlan): boolean {
  return s.action === 'unchanged' || s.action === 'keep' || s.action === 'left-out';
}

/** Field changes between two plain values. Lists are compared whole: a reordered command is a change. */
export function diffValues(before: unknown, after: unknown, path: string): FieldChange[] {
  if (isRecord(before) && isRecord(after)) {
    const out: FieldChange[] = [];
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const k of keys) out.push(...diffValues(before[k], after[k], path ? `${path}.${k}` : k));
    return out;
  }
  if (sameValue(before, after)) return [];
  const change: FieldChange = { path };
  if (before !== undefined) change.before = before;
  if (after !== undefined) change.after = after;
  return [change];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue(a[k], b[k]));
  }
  return false;
}

/** One line per service, and one indented line per changed field. */
export function renderPlan(plan: StackPlan, stackName: string): string {
  const lines: string[] = [];
  const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  for (const s of plan.services) {
    const name = `${stackName}_${s.service}`;
    switch (s.action) {
      case 'create': lines.push(`create  ${name}`); break;
      case 'remove': lines.push(`remove  ${name}`); break;
      case 'keep': lines.push(`keep    ${name} (not in the stack file; --prune removes it)`); break;
      case 'unchanged': lines.push(`same    ${name}`); break;
      case 'left-out': lines.push(`skip    ${name} (${leftOutReason(s)})`); break;
      case 'update':
        lines.push(`update  ${name}`);
        for (const c of s.changes) lines.push(`          ${c.path}: ${show(c.before)} -> ${show(c.after)}`);
        break;
    }
  }
  if (plan.empty) lines.push('nothing to change');
  return `${lines.join('\n')}\n`;
}
