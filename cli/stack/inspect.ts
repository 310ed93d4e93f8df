// Rows for `stack ls`, `stack services NAME` and `stack ps NAME`, computed from what the
// Control API returns. Each row type is also the `--format json` element.
import { PortConfig_Protocol, PortConfig_PublishMode, TaskState, type Node, type PortConfig, type Service, type Task } from '../../proto/gen/types.js';
import { ago, shortId, taskStateName } from '../format/index.js';
import { STACK_NAMESPACE_LABEL } from './to-proto.js';

export interface StackRow {
  name: string;
  services: number;
}

export function stackRows(services: readonly Service[]): StackRow[] {
  const counts = new Map<string, number>();
  for (const s of services) {
    const ns = s.spec?.annotations?.labels[STACK_NAMESPACE_LABEL];
    if (ns !== undefined) counts.set(ns, (counts.get(ns) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => ({ name, services: n }));
}

export interface ServiceRow {
  id: string;
  name: string;
  mode: string;
  replicas: string;
  image: string;
  ports: string;
}

function portText(p: PortConfig): string {
  const proto = PortConfig_Protocol[p.protocol]?.toLowerCase() ?? 'tcp';
  const pub = p.publishedPort ? `*:${p.publishedPort}` : '*';
  return `${pub}->${p.targetPort}/${proto}${p.publishMode === PortConfig_PublishMode.HOST ? ' (host)' : ''}`;
}

function modeText(s: Service): string {
  switch (s.spec?.mode?.$case) {
    case 'replicated': return 'replicated';
    case 'global': return 'global';
    case 'replicatedJob': return 'replicated job';
    case 'globalJob': return 'global job';
    default: return '?';
  }
}

export function serviceRows(services: readonly Service[], tasks: readonly Task[]): ServiceRow[] {
  return services.map((s) => {
    const running = tasks.filter((t) => t.serviceId === s.id && t.desiredState <= TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length;
    const mode = s.spec?.mode;
    const wanted = mode?.$case === 'replicated' ? String(mode.value.replicas)
      : mode?.$case === 'replicatedJob' ? String(mode.value.totalCompletions)
      : String(tasks.filter((t) => t.serviceId === s.id && t.desiredState <= TaskState.RUNNING).length);
    return {
      id: shortId(s.id),
      name: s.spec?.annotations?.name ?? '',
      mode: modeText(s),
      replicas: `${running}/${wanted}`,
      image: s.spec?.task?.container?.image ?? '',
      ports: (s.spec?.endpoint?.ports ?? []).map(portText).join(', '),
    };
  });
}

export interface TaskRow {
  id: string;
  name: string;
  image: string;
  node: string;
  desiredState: string;
  currentState: string;
  error: string;
}


export function taskRows(services: readonly Service[], tasks: readonly Task[], nodes: readonly Node[], now = Date.now()): TaskRow[] {
  const names = new Map(services.map((s) => [s.id, s.spec?.annotations?.name ?? s.id]));
  const hosts = new Map(nodes.map((n) => [n.id, n.description?.hostname || n.id]));
  const sorted = tasks
    .filter((t) => names.has(t.serviceId))
    .sort((a, b) => names.get(a.serviceId)!.localeCompare(names.get(b.serviceId)!) || a.slot - b.slot || a.nodeId.localeCompare(b.nodeId) || Number((b.meta?.createdAtMs ?? 0n) - (a.meta?.createdAtMs ?? 0n)));
  return sorted.map((t) => ({
    id: shortId(t.id),
    name: `${names.get(t.serviceId)}.${t.slot || t.nodeId}`,
    image: t.spec?.container?.image ?? '',
    node: t.nodeId ? hosts.get(t.nodeId) ?? t.nodeId : '',
    desiredState: taskStateName(t.desiredState),
    currentState: `${taskStateName(t.status?.state)} ${ago(t.status?.timestampMs ?? 0n, now)}`.trim(),
    error: t.status?.err ?? '',
  }));
}
