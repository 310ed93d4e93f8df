// The stack commands' way to the cluster: the local daemon's unix socket
// (SHOAL_RUN/shoal.sock), which serves the Control API and forwards to the leader. A small
// promise adapter over the generated ControlClient, until the shared cli/client lands.
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ControlClient, type ListServicesRequest, type ListTasksRequest } from '../../proto/gen/control.js';
import type { Node, Service, ServiceSpec, Task } from '../../proto/gen/types.js';

/** A refusal by the cluster (bad spec, stale version, no leader): the CLI prints it alone. */
export class ControlCallError extends Error {
  readonly userError = true as const;
  constructor(message: string, readonly code: number) {
    super(message);
    this.name = 'ControlCallError';
  }
}

export interface StackControl {
  listServices(req: Partial<ListServicesRequest>): Promise<Service[]>;
  createService(spec: ServiceSpec): Promise<Service>;
  /** `version` is the service's meta.version as read: a concurrent change is refused. */
  updateService(id: string, version: bigint, spec: ServiceSpec): Promise<Service>;
  removeService(id: string): Promise<void>;
  listTasks(req: Partial<ListTasksRequest>): Promise<Task[]>;
  listNodes(): Promise<Node[]>;
  close(): void;
}

export function controlSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.SHOAL_RUN || '/run/shoal', 'shoal.sock');
}

const userCodes = new Set<number>([
  status.INVALID_ARGUMENT, status.NOT_FOUND, status.ALREADY_EXISTS, status.FAILED_PRECONDITION,
  status.PERMISSION_DENIED, status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.ABORTED,
]);

function asError(err: ServiceError, socket: string): Error {
  if (err.code === status.UNAVAILABLE && /ENOENT|ECONNREFUSED|No connection established|connect/i.test(err.details ?? '')) {
    return new ControlCallError(`cannot reach the shoal daemon at ${socket}: is it running (shoal daemon) and is SHOAL_RUN right?`, err.code);
  }
  if (userCodes.has(err.code)) return new ControlCallError(err.details || err.message, err.code);
  return err;
}

type Callback<Res> = (err: ServiceError | null, res: Res) => void;

export function connectControl(socket: string = controlSocketPath(), timeoutMs = 30_000): StackControl {
  const client = new ControlClient(`unix:${socket}`, credentials.createInsecure());
  const call = <Req, Res>(method: string, req: Req): Promise<Res> => {
    const fn = (client as unknown as Record<string, (r: Req, m: Metadata, o: { deadline: Date }, cb: Callback<Res>) => void>)[method]!.bind(client);
    return new Promise((resolve, reject) => fn(req, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (e, r) => (e ? reject(asError(e, socket)) : resolve(r))));
  };
  return {
    listServices: async (req) =>
      (await call<ListServicesRequest, { services: Service[] }>('listServices', { names: [], idPrefixes: [], labels: {}, ...req })).services,
    createService: async (spec) => (await call<unknown, { service: Service }>('createService', { spec })).service,
    updateService: async (serviceId, version, spec) =>
      (await call<unknown, { service: Service }>('updateService', { serviceId, version, spec, rollback: false })).service,
    removeService: async (serviceId) => {
      await call('removeService', { serviceId });
    },
    listTasks: async (req) => (await call<ListTasksRequest, { tasks: Task[] }>('listTasks', { serviceIds: [], nodeIds: [], desiredStates: [], ...req })).tasks,
    listNodes: async () => (await call<unknown, { nodes: Node[] }>('listNodes', { names: [], roles: [] })).nodes,
    close: () => client.close(),
  };
}
