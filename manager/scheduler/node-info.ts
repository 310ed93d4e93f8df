// What the scheduler knows about one node: its capacity, and what the tasks placed on it use
// (reservations, host ports, tasks per service). Kept up to date from store events.
import { PortConfig_Protocol, PortConfig_PublishMode, TaskState, type Node, type Task } from '../../proto/gen/types.js';
import type { ReadonlyDeep } from '../store/index.js';

type RO<T> = ReadonlyDeep<T>;

/** A task holds its reservations from assignment until it stops or is told to. */
export function holdsResources(t: RO<Task>): boolean {
  const state = t.status?.state ?? TaskState.NEW;
  return !!t.nodeId && state >= TaskState.ASSIGNED && state <= TaskState.RUNNING && t.desiredState <= TaskState.RUNNING;
}

export interface TaskUsage {
  readonly serviceId: string;
  readonly cpu: number;
  readonly memory: number;
  readonly hostPorts: readonly string[];
}

export function hostPortsOf(t: RO<Task>): string[] {
  const out: string[] = [];
  for (const p of t.endpoint?.spec?.ports ?? []) {
    if (p.publishMode !== PortConfig_PublishMode.HOST || !p.publishedPort) continue;
    out.push(`${p.publishedPort}/${PortConfig_Protocol[p.protocol]?.toLowerCase() ?? 'tcp'}`);
  }
  return out;
}

export function usageOf(t: RO<Task>): TaskUsage {
  const r = t.spec?.resources?.reservations;
  return {
    serviceId: t.serviceId,
    cpu: Number(r?.nanoCpus ?? 0n),
    memory: Number(r?.memoryBytes ?? 0n),
    hostPorts: hostPortsOf(t),
  };
}

export class NodeInfo {
  readonly tasks = new Map<string, TaskUsage>();
  readonly perService = new Map<string, number>();
  readonly hostPorts = new Map<string, number>();
  cpuUsed = 0;
  memoryUsed = 0;

  constructor(public node: RO<Node>) {}

  get id(): string {
    return this.node.id;
  }

  get cpuTotal(): number {
    return Number(this.node.description?.resources?.nanoCpus ?? 0n);
  }

  get memoryTotal(): number {
    return Number(this.node.description?.resources?.memoryBytes ?? 0n);
  }

  get cpuFree(): number {
    return this.cpuTotal - this.cpuUsed;
  }

  get memoryFree(): number {
    return this.memoryTotal - this.memoryUsed;
  }

  serviceTasks(serviceId: string): number {
    return this.perService.get(serviceId) ?? 0;
  }

  add(taskId: string, u: TaskUsage): void {
    this.remove(taskId);
    this.tasks.set(taskId, u);
    this.perService.set(u.serviceId, this.serviceTasks(u.serviceId) + 1);
    this.cpuUsed += u.cpu;
    this.memoryUsed += u.memory;
    for (const p of u.hostPorts) this.hostPorts.set(p, (this.hostPorts.get(p) ?? 0) + 1);
  }

  remove(taskId: string): void {
    const u = this.tasks.get(taskId);
    if (!u) return;
    this.tasks.delete(taskId);
    const n = this.serviceTasks(u.serviceId) - 1;
    if (n > 0) this.perService.set(u.serviceId, n);
    else this.perService.delete(u.serviceId);
    this.cpuUsed -= u.cpu;
    this.memoryUsed -= u.memory;
    for (const p of u.hostPorts) {
      const c = (this.hostPorts.get(p) ?? 1) - 1;
      if (c > 0) this.hostPorts.set(p, c);
      else this.hostPorts.delete(p);
    }
  }
}
