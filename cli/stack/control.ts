// The calls the stack commands make, as promises over the shared CLI client (cli/client): the
// local daemon's socket or a manager given by --host, with gRPC failures as one-line errors.
import { ControlService, ListNodesRequest, ListServicesRequest, ListTasksRequest } from '../../proto/gen/control.js';
import type { Node, Service, ServiceSpec, Task } from '../../proto/gen/types.js';
import { connect, listAll, type Connection, type ConnectionFlags } from '../client/index.js';
import { objectControl, type ObjectControl } from './object-control.js';

export interface StackControl extends ObjectControl {
  listServices(req: Partial<ListServicesRequest>): Promise<Service[]>;
  createService(spec: ServiceSpec): Promise<Service>;
  /** `version` is the service's meta.version as read: a concurrent change is refused. */
  updateService(id: string, version: bigint, spec: ServiceSpec): Promise<Service>;
  removeService(id: string): Promise<void>;
  getService(id: string): Promise<Service>;
  listTasks(req: Partial<ListTasksRequest>): Promise<Task[]>;
  listNodes(): Promise<Node[]>;
  close(): void;
}

export function stackControl(conn: Connection): StackControl {
  const C = ControlService;
  const answered = (s: Service | undefined): Service => {
    if (!s) throw new Error('the manager answered without the service');
    return s;
  };
  return {
    ...objectControl(conn),
    listServices: (req) => listAll(conn, C.listServices, ListServicesRequest.fromPartial(req), (r) => r.services),
    createService: async (spec) => answered((await conn.call(C.createService, { spec })).service),
    updateService: async (serviceId, version, spec) => answered((await conn.call(C.updateService, { serviceId, version, spec, rollback: false })).service),
    getService: async (serviceId) => answered((await conn.call(C.getService, { serviceId })).service),
    removeService: async (serviceId) => {
      await conn.call(C.removeService, { serviceId });
    },
    listTasks: (req) => listAll(conn, C.listTasks, ListTasksRequest.fromPartial(req), (r) => r.tasks),
    listNodes: () => listAll(conn, C.listNodes, ListNodesRequest.fromPartial({}), (r) => r.nodes),
    close: () => conn.close(),
  };
}

export function connectControl(flags: ConnectionFlags = {}, env: NodeJS.ProcessEnv = process.env): StackControl {
  return stackControl(connect(flags, env));
}
