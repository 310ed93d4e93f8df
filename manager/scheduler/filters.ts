// Whether a node can take one more task of a kind, and why not: the filters run in a fixed
// order and a node is counted under the first one it fails, for the pending reason.
import type { Node, Task } from '../../proto/gen/types.js';
import { nodeTakesNewTasks } from '../orchestrator/tasks.js';
import type { ReadonlyDeep } from '../store/index.js';
import { matchesConstraints, parseConstraints, parseSpreadDescriptor, type Constraint, type SpreadDescriptor } from './constraints.js';
import { type NodeInfo, type TaskUsage, usageOf } from './node-info.js';

/** What every task of one group (same service, same spec version) asks of a node. */
export interface Requirements {
  readonly usage: TaskUsage;
  readonly constraints: readonly Constraint[];
  /** Set when the task's constraints cannot be parsed: it fits nowhere, and this says why. */
  readonly invalid?: string;
  readonly maxReplicas: number;
  readonly spread: readonly SpreadDescriptor[];
  /** Platforms the image runs on ("os/arch"); empty means any. */
  readonly platforms: readonly { os: string; arch: string }[];
}

export function requirementsOf(t: ReadonlyDeep<Task>): Requirements {
  const placement = t.spec?.placement;
  const platforms = (placement?.platforms ?? []).map((p) => ({ os: p.os.toLowerCase(), arch: normalizeArch(p.architecture) }));
  const base = { usage: usageOf(t), maxReplicas: placement?.maxReplicas ?? 0, platforms };
  try {
    const constraints = parseConstraints(placement?.constraints ?? []);
    const spread: SpreadDescriptor[] = [];
    for (const p of placement?.preferences ?? []) {
      if (p.preference?.$case === 'spread') spread.push(parseSpreadDescriptor(p.preference.value.spreadDescriptor));
    }
    return { ...base, constraints, spread };
  } catch (err) {
    return { ...base, constraints: [], spread: [], invalid: (err as Error).message };
  }
}

// Docker and Go spell architectures differently; compare one spelling.
function normalizeArch(a: string): string {
  const l = a.toLowerCase();
  return ({ x86_64: 'amd64', aarch64: 'arm64', armhf: 'arm' } as Record<string, string>)[l] ?? l;
}

/** Whether a node's os/arch is one of the wanted platforms (none wanted: any node). */
export function nodeSupports(node: ReadonlyDeep<Node>, wanted: readonly { readonly os: string; readonly architecture: string }[]): boolean {
  if (wanted.length === 0) return true;
  const p = node.description?.platform;
  const os = (p?.os ?? '').toLowerCase();
  const arch = normalizeArch(p?.architecture ?? '');
  return wanted.some((w) => (!w.os || w.os.toLowerCase() === os) && (!w.architecture || normalizeArch(w.architecture) === arch));
}

function platformMatches(info: NodeInfo, req: Requirements): boolean {
  return nodeSupports(info.node, req.platforms.map((p) => ({ os: p.os, architecture: p.arch })));
}

export type FilterId = 'unavailable' | 'platform' | 'constraints' | 'cpu' | 'memory' | 'ports' | 'max-replicas';

/** Filters that depend only on the node and the task's spec, not on what is placed. */
export function staticFailure(info: NodeInfo, req: Requirements): FilterId | undefined {
  if (!nodeTakesNewTasks(info.node)) return 'unavailable';
  if (!platformMatches(info, req)) return 'platform';
  if (!matchesConstraints(req.constraints, info.node)) return 'constraints';
  return undefined;
}

/** Filters that change as tasks are placed. */
export function dynamicFailure(info: NodeInfo, req: Requirements): FilterId | undefined {
  const u = req.usage;
  if (u.cpu > 0 && info.cpuFree < u.cpu) return 'cpu';
  if (u.memory > 0 && info.memoryFree < u.memory) return 'memory';
  for (const p of u.hostPorts) if (info.hostPorts.has(p)) return 'ports';
  if (req.maxReplicas > 0 && info.serviceTasks(u.serviceId) >= req.maxReplicas) return 'max-replicas';
  return undefined;
}

export function firstFailure(info: NodeInfo, req: Requirements): FilterId | undefined {
  return staticFailure(info, req) ?? dynamicFailure(info, req);
}

const ORDER: readonly FilterId[] = ['unavailable', 'platform', 'constraints', 'cpu', 'memory', 'ports', 'max-replicas'];

function phrase(f: FilterId, n: number, req: Requirements): string {
  const nodes = n === 1 ? '1 node' : `${n} nodes`;
  const has = n === 1 ? 'has' : 'have';
  switch (f) {
    case 'unavailable':
      return `${nodes} not available for new tasks`;
    case 'platform':
      return `${nodes} ${has} a platform the image does not support (${req.platforms.map((p) => `${p.os}/${p.arch}`).join(', ')})`;
    case 'constraints':
      return `${nodes} ${n === 1 ? 'does' : 'do'} not satisfy the placement constraints`;
    case 'cpu':
      return `${nodes} ${has} insufficient CPU`;
    case 'memory':
      return `${nodes} ${has} insufficient memory`;
    case 'ports':
      return `${nodes} ${has} host-mode port ${req.usage.hostPorts.join(', ')} already in use`;
    case 'max-replicas':
      return `${nodes} ${has} reached the max replicas per node (${req.maxReplicas})`;
  }
}

/** "no suitable node (2 nodes not available for new tasks; 1 node has insufficient memory)" */
export function explain(nodes: Iterable<NodeInfo>, req: Requirements): string {
  if (req.invalid) return `no suitable node (${req.invalid})`;
  const counts = new Map<FilterId, number>();
  let total = 0;
  for (const info of nodes) {
    total++;
    const f = firstFailure(info, req);
    if (f) counts.set(f, (counts.get(f) ?? 0) + 1);
  }
  if (total === 0) return 'no suitable node (no nodes in the cluster)';
  const parts = ORDER.filter((f) => counts.has(f)).map((f) => phrase(f, counts.get(f)!, req));
  return `no suitable node (${parts.join('; ') || 'every node is full'})`;
}

