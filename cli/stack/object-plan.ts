// The plan for a stack's secrets, configs and networks: compare what the file asks for
// (objects.ts) with what the cluster holds. Problems that must stop the deploy (an external
// object missing, a name taken outside the stack, changed data of an immutable secret) are
// collected here, before anything is written. Secret data never comes back from the cluster,
// so it is compared through the digest label the stack wrote when it created the secret.
import { NetworkSpec, type Network, type Service } from '../../proto/gen/types.js';
import type { FileKind, FileObject } from './object-control.js';
import type { DesiredFileObject, DesiredNetwork, DesiredObjects } from './objects.js';
import { SECRET_DIGEST_LABEL, secretMatches } from './secret-digest.js';
import { diffValues } from './plan.js';
import { STACK_NAMESPACE_LABEL } from './to-proto.js';

export type ObjectKind = FileKind | 'network';

export type ObjectAction =
  | 'create'
  | 'unchanged'
  /** Secrets and configs: only the labels changed (data is immutable, labels are not). */
  | 'relabel'
  /** A network that exists with other options: kept as it is (networks cannot be updated). */
  | 'differs'
  /** External: used as it is. */
  | 'external'
  | 'remove'
  | 'keep';

export interface ObjectPlanEntry {
  kind: ObjectKind;
  name: string;
  action: ObjectAction;
  /** The cluster's object, when it exists. */
  id?: string;
  version?: bigint;
  /** Why (keep, differs, unchanged-but-uncomparable). */
  note?: string;
  desired?: DesiredFileObject | DesiredNetwork;
}

export interface ObjectPlan {
  entries: ObjectPlanEntry[];
  /** True when applying changes no object. */
  empty: boolean;
}

/** What the cluster holds that matters to one stack. */
export interface CurrentObjects {
  /** Objects (by kind) labelled with this stack's namespace. */
  owned: Record<ObjectKind, (FileObject | Network)[]>;
  /** Objects (by kind) whose names the file asks for, whoever owns them. */
  named: Record<ObjectKind, (FileObject | Network)[]>;
  /** Every service in the cluster outside this stack (they may use the stack's objects). */
  otherServices: Service[];
}

const nameOf = (o: FileObject | Network) => o.spec?.annotations?.name ?? o.id;
const labelsOf = (o: FileObject | Network) => o.spec?.annotations?.labels ?? {};
const lower = (s: string) => s.toLowerCase();

function refersTo(s: Service, kind: ObjectKind, o: FileObject | Network): boolean {
  const name = lower(nameOf(o));
  const c = s.spec?.task?.container;
  if (kind === 'secret') return (c?.secrets ?? []).some((r) => r.secretId === o.id || lower(r.secretName) === name);
  if (kind === 'config') return (c?.configs ?? []).some((r) => r.configId === o.id || lower(r.configName) === name);
  const nets = [...(s.spec?.task?.networks ?? []), ...(s.spec?.networks ?? [])];
  return nets.some((n) => n.target === o.id || lower(n.target) === name);
}

async function planFileObject(d: DesiredFileObject, stack: string, found: FileObject | undefined, problems: string[]): Promise<ObjectPlanEntry> {
  const e: ObjectPlanEntry = { kind: d.kind, name: d.name, action: 'create', desired: d };
  if (found) Object.assign(e, { id: found.id, version: found.meta?.version ?? 0n });
  if (d.external) {
    if (!found) problems.push(`${d.kind} "${d.name}" is external but does not exist: create it with \`shoal ${d.kind} create ${d.name} FILE\`, or give \`file:\` instead of \`external: true\``);
    e.action = 'external';
    return e;
  }
  if (!found) return e;
  if (labelsOf(found)[STACK_NAMESPACE_LABEL] !== stack) {
    problems.push(`${d.kind} "${d.name}" already exists outside stack ${stack} (no ${STACK_NAMESPACE_LABEL}=${stack} label): remove or rename it, declare it \`external: true\`, or give this one another \`name:\``);
    return e;
  }
  const immutable = `${d.kind} "${d.name}" exists with different data, and a ${d.kind}'s data cannot change: give it a new name (e.g. \`name: ${d.name}_v2\` under ${d.kind}s.${d.key}, or rename the key) and deploy again; services move to the new one`;
  if (d.kind === 'config') {
    if (!Buffer.from(found.spec?.data ?? new Uint8Array()).equals(Buffer.from(d.data ?? new Uint8Array()))) problems.push(immutable);
  } else {
    const same = await secretMatches(labelsOf(found)[SECRET_DIGEST_LABEL], d.data ?? new Uint8Array());
    if (same === false) problems.push(immutable);
    if (same === undefined) e.note = 'created without a digest label: its data cannot be compared and is left as it is';
  }
  const have = { ...labelsOf(found) };
  delete have[SECRET_DIGEST_LABEL];
  e.action = diffValues(have, d.labels, '').length > 0 ? 'relabel' : 'unchanged';
  return e;
}

function canonicalNetwork(spec: NetworkSpec | undefined): unknown {
  return NetworkSpec.toJSON(NetworkSpec.decode(NetworkSpec.encode(spec ?? NetworkSpec.fromPartial({})).finish()));
}

function planNetwork(d: DesiredNetwork, stack: string, found: Network | undefined, problems: string[]): ObjectPlanEntry {
  const e: ObjectPlanEntry = { kind: 'network', name: d.name, action: 'create', desired: d };
  if (found) Object.assign(e, { id: found.id, version: found.meta?.version ?? 0n });
  if (d.external) {
    if (!found) problems.push(`network "${d.name}" is external but does not exist: create it with \`shoal network create ${d.name}\`, or remove \`external: true\` so the stack creates it`);
    e.action = 'external';
    return e;
  }
  if (!found) return e;
  if (labelsOf(found)[STACK_NAMESPACE_LABEL] !== stack) {
    problems.push(`network "${d.name}" already exists outside stack ${stack} (no ${STACK_NAMESPACE_LABEL}=${stack} label): remove or rename it, declare it \`external: true\`, or give this one another \`name:\``);
    return e;
  }
  const changes = diffValues(canonicalNetwork(found.spec), canonicalNetwork(d.spec), '');
  if (changes.length === 0) e.action = 'unchanged';
  else {
    e.action = 'differs';
    e.note = `exists with other options (${changes.map((c) => c.path).join(', ')}); a network cannot be changed in place: kept as it is (remove the stack and deploy it again to recreate it)`;
  }
  return e;
}

/** Plans every object; throws nothing but returns the problems that forbid the deploy. */
export async function planObjects(
  stack: string,
  desired: DesiredObjects,
  current: CurrentObjects,
  opts: { prune: boolean },
): Promise<{ plan: ObjectPlan; problems: string[] }> {
  const problems: string[] = [];
  const entries: ObjectPlanEntry[] = [];
  const find = (kind: ObjectKind, name: string) => current.named[kind].find((o) => lower(nameOf(o)) === lower(name)) ?? current.owned[kind].find((o) => lower(nameOf(o)) === lower(name));
  for (const kind of ['secret', 'config'] as const) {
    for (const d of desired[`${kind}s`]) entries.push(await planFileObject(d, stack, find(kind, d.name) as FileObject | undefined, problems));
  }
  for (const d of desired.networks) entries.push(planNetwork(d, stack, find('network', d.name) as Network | undefined, problems));
  // The stack's objects that left the file: removed with --prune unless a service outside the
  // stack still uses them (the stack's own services will only use what the file declares).
  for (const kind of ['secret', 'config', 'network'] as const) {
    const wanted = new Set(entries.filter((x) => x.kind === kind).map((x) => lower(x.name)));
    for (const o of current.owned[kind]) {
      if (labelsOf(o)[STACK_NAMESPACE_LABEL] !== stack || wanted.has(lower(nameOf(o)))) continue;
      const e: ObjectPlanEntry = { kind, name: nameOf(o), action: 'keep', id: o.id, version: o.meta?.version ?? 0n, note: 'not in the stack file; --prune removes it' };
      const users = current.otherServices.filter((s) => refersTo(s, kind, o)).map((s) => s.spec?.annotations?.name ?? s.id);
      if (opts.prune && users.length > 0) e.note = `not in the stack file, but still used by ${users.map((u) => `service ${u}`).join(', ')}`;
      else if (opts.prune) Object.assign(e, { action: 'remove', note: undefined });
      entries.push(e);
    }
  }
  const order: Record<ObjectKind, number> = { secret: 0, config: 1, network: 2 };
  entries.sort((a, b) => order[a.kind] - order[b.kind] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const quiet = new Set<ObjectAction>(['unchanged', 'external', 'keep', 'differs']);
  return { plan: { entries, empty: entries.every((e) => quiet.has(e.action)) }, problems };
}

/** One line per object for --dry-run, in the services' plan style. */
export function renderObjectPlan(plan: ObjectPlan): string {
  const word: Record<ObjectAction, string> = { create: 'create', unchanged: 'same', relabel: 'labels', differs: 'differs', external: 'uses', remove: 'remove', keep: 'keep' };
  return plan.entries
    .map((e) => `${word[e.action].padEnd(8)}${e.kind} ${e.name}${e.action === 'external' ? ' (external)' : ''}${e.note ? ` (${e.note})` : ''}\n`)
    .join('');
}
