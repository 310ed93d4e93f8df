// The calls the stack commands make, as promises over the shared CLI client (cli/client): the
// local daemon's socket or a manager given by --host, with gRPC failures as one-line errors.
import type { ListServicesRequest, ListTasksRequest } from '../../proto/gen/control.js';
import type { Node, Service, ServiceSpec, Task } from '../../proto/gen/types.js';
import { connect, listAll, type Connection, type ConnectionFlags } from '../client/index.js';
import { objectControl, type ObjectControl } from './object-control.js';

export interface StackControl extends ObjectControl {
  listServices(req: Partial<ListServicesRequest>): Promise<Service[]>;
  createService(spec: ServiceSpec): Promise<Service>;
  /** `version` is the service's meta.version as read: a concurrent change is refused. */
  updateService(id: string, version: bigint, spec: ServiceSpec): Promise<Service>;
  removeService(id: string): Promise<void>;
  listTasks(req: Partial<ListTasksRequest>): Promise<Task[]>;
  listNodes(): Promise<Node[]>;
  close(): void;
}

export function stackControl(conn: Connection): StackControl {
  const call = <Req, Res>(method: string, req: Req): Promise<Res> =>
    conn.call<ReturnType<Connection['controlClient']>, Req, Res>(conn.controlClient(), method as never, req);
  return {
    ...objectControl(conn),
    listServices: (req) => listAll<Service>(conn, 'listServices', { names: [], idPrefixes: [], labels: {}, ...req }, 'services'),
    createService: async (spec) => (await call<unknown, { service: Service }>('createService', { spec })).service,
    updateService: async (serviceId, version, spec) =>
      (await call<unknown, { service: Service }>('updateService', { serviceId, version, spec, rollback: false })).service,
    removeService: async (serviceId) => {
      await call('removeService', { serviceId });
    },
    listTasks: (req) => listAll<Task>(conn, 'listTasks', { serviceIds: [], nodeIds: [], desiredStates: [], ...req }, 'tasks'),
    listNodes: () => listAll<Node>(conn, 'listNodes', { names: [], roles: [] }, 'nodes'),
    close: () => conn.close(),
  };
}

export function connectControl(flags: ConnectionFlags = {}, env: NodeJS.ProcessEnv = process.env): StackControl {
  return stackControl(connect(flags, env));
}
