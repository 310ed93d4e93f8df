// Builders of cluster objects for the manager's component tests.
import {
  Node,
  NodeAvailability,
  NodeRole,
  NodeStatus_State,
  PortConfig_PublishMode,
  RestartPolicy_Condition,
  Service,
  Task,
  TaskState,
  TaskStatus,
} from '../../../proto/gen/types.js';
import type { ReadonlyDeep } from '../../../manager/store/index.js';

export interface NodeOpts {
  hostname?: string;
  role?: NodeRole;
  availability?: NodeAvailability;
  state?: NodeStatus_State;
  labels?: Record<string, string>;
  cpus?: number;
  memoryMiB?: number;
  /** "os/arch", default linux/x86_64. */
  platform?: string;
}

export function makeNode(id: string, o: NodeOpts = {}): Node {
  return Node.fromPartial({
    id,
    spec: {
      annotations: { name: '', labels: o.labels ?? {} },
      desiredRole: o.role ?? NodeRole.WORKER,
      availability: o.availability ?? NodeAvailability.ACTIVE,
    },
    role: o.role ?? NodeRole.WORKER,
    description: {
      hostname: o.hostname ?? id,
      platform: { os: (o.platform ?? 'linux/x86_64').split('/')[0]!, architecture: (o.platform ?? 'linux/x86_64').split('/')[1]! },
      resources: { nanoCpus: BigInt(Math.round((o.cpus ?? 4) * 1e9)), memoryBytes: BigInt(o.memoryMiB ?? 8192) * 1024n * 1024n },
    },
    status: { state: o.state ?? NodeStatus_State.READY, addr: '127.0.0.1' },
  });
}

export interface ServiceOpts {
  replicas?: number;
  global?: boolean;
  constraints?: string[];
  spreadOver?: string[];
  maxReplicas?: number;
  reserveCpus?: number;
  reserveMemoryMiB?: number;
  hostPorts?: number[];
  restart?: 'any' | 'on-failure' | 'none';
  /** "os/arch" pairs the image supports. */
  platforms?: string[];
}

export function makeService(id: string, name: string, o: ServiceOpts = {}): Service {
  const svc = Service.fromPartial({
    id,
    specVersion: 1n,
    spec: {
      annotations: { name },
      task: {
        container: { image: 'busybox:latest', args: ['sleep', '1000'] },
        resources: {
          reservations: {
            nanoCpus: BigInt(Math.round((o.reserveCpus ?? 0) * 1e9)),
            memoryBytes: BigInt(o.reserveMemoryMiB ?? 0) * 1024n * 1024n,
          },
        },
        restart: {
          condition:
            o.restart === 'none' ? RestartPolicy_Condition.NONE : o.restart === 'on-failure' ? RestartPolicy_Condition.ON_FAILURE : RestartPolicy_Condition.ANY,
        },
        placement: {
          constraints: o.constraints ?? [],
          preferences: (o.spreadOver ?? []).map((d) => ({ preference: { $case: 'spread' as const, value: { spreadDescriptor: d } } })),
          maxReplicas: o.maxReplicas ?? 0,
          platforms: (o.platforms ?? []).map((p) => ({ os: p.split('/')[0]!, architecture: p.split('/')[1] ?? '' })),
        },
      },
      endpoint: {
        ports: (o.hostPorts ?? []).map((p) => ({ targetPort: 80, publishedPort: p, publishMode: PortConfig_PublishMode.HOST })),
      },
    },
  });
  svc.spec!.mode = o.global ? { $case: 'global', value: {} } : { $case: 'replicated', value: { replicas: o.replicas ?? 1 } };
  return svc;
}

/** A copy of a stored task with a new observed state. */
export function withState(t: ReadonlyDeep<Task>, state: TaskState, extra: Partial<TaskStatus> = {}): ReadonlyDeep<Task> {
  return { ...t, status: TaskStatus.fromPartial({ ...extra, state }) };
}
