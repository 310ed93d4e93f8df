// The Control service (manager/controlapi) as this daemon serves it: on the cluster API with mTLS
// (managers only: a worker certificate is refused), and on the local socket (root only by file
// permissions) for the CLI on this host. A worker's local socket refuses Control calls with a
// message naming the fix, as Docker Swarm does: workers hold no cluster state and their
// certificates are not allowed to change it.
import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedHandleCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ControlClient, ControlService, type ControlServer } from '../proto/gen/control.js';
import { clientCredentials, type NodeAuthenticator, type NodeCertificates } from '../manager/ca/index.js';
import { controlService } from '../manager/controlapi/index.js';
import type { Manager } from '../manager/node/index.js';
import { ManagerLockedError } from '../manager/keys/index.js';
import type { ExtraService } from './cluster-api.js';

/** Control over a manager's store; `authorize` decides who may call (mTLS or local socket). */
export function managerControl(m: Manager, certs: NodeCertificates, auth: (() => NodeAuthenticator) | null, logger: Logger, maxReplicas?: number): ControlServer {
  let cached: { addr: string; client: ControlClient } | undefined;
  return controlService({
    store: m.store,
    isLeader: () => m.isLeader,
    leaderClient: () => {
      const addr = m.leaderApiAddr();
      if (!addr) return null;
      if (cached?.addr !== addr) {
        cached?.client.close();
        cached = { addr, client: new ControlClient(addr, clientCredentials(certs)) };
      }
      return cached.client;
    },
    authorize: (call) => {
      if (auth) auth().requireRole(call, 'manager');
    },
    readBarrier: () => m.readBarrier(),
    // Only the leader's dispatcher holds the agents' sessions; the control API calls this on
    // the leader and forwards ServiceLogs there otherwise.
    subscribeLogs: (req, signal) => m.dispatcher.subscribeLogs(req, signal),
    maxReplicas,
    logger,
  });
}

/** The local socket's Control: delegates to the current manager's, or refuses on a worker (or a
 *  locked manager, naming `shoal unlock`). */
export function localControl(current: () => ControlServer | undefined, role: () => 'worker' | 'manager' | null, locked: () => boolean = () => false): ExtraService {
  const refuse = (): { code: status; details: string; metadata: Metadata } => ({
    code: status.FAILED_PRECONDITION,
    details: locked()
      ? new ManagerLockedError().message
      : role() === 'worker'
        ? 'this node is a worker: cluster state lives on managers; run the command on a manager (or promote this node with `shoal node promote`)'
        : 'this node is not part of a cluster: run `shoal init` or `shoal join --token TOKEN MANAGER:4243` first',
    metadata: new Metadata(),
  });
  // the generated ControlServer is an UntypedServiceImplementation: each call is passed on by
  // its method name to whichever manager's Control is current
  const target = (method: string): ((...args: unknown[]) => void) | undefined => {
    const c: UntypedServiceImplementation | undefined = current();
    const h: UntypedHandleCall | undefined = c?.[method];
    return h && ((...args) => void Reflect.apply(h, c, args));
  };
  const impl: UntypedServiceImplementation = {};
  for (const [method, def] of Object.entries(ControlService)) {
    if (def.responseStream) {
      impl[method] = (call: ServerWritableStream<unknown, unknown>) => {
        const h = target(method);
        // grpc-js (1.14) sends a server stream's status from an 'error' event; destroy(err)
        // would close the stream without it and leave the client waiting.
        if (!h) return void call.emit('error', Object.assign(new Error(refuse().details), refuse()));
        h(call);
      };
    } else {
      impl[method] = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
        const h = target(method);
        if (!h) return cb(refuse());
        h(call, cb);
      };
    }
  }
  return { definition: ControlService, implementation: impl };
}
