// The local API on SHOAL_RUN/shoal.sock (mode 0600: root only, the socket's permissions are the
// authentication): the Daemon service, plus the Control service when the control API is wired
// (on a worker it is proxied to a manager).
import { chmod, rm } from 'node:fs/promises';
import { Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  DaemonService,
  type InfoRequest,
  type InfoResponse,
  type InitRequest,
  type InitResponse,
  type JoinRequest,
  type JoinResponse,
  type LeaveRequest,
  type LeaveResponse,
  type UnlockRequest,
  type UnlockResponse,
} from '../proto/gen/daemon.js';
import type { ExtraService } from './cluster-api.js';
import type { Daemon } from './daemon.js';


export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = err as { userError?: boolean; code?: number; details?: string; message?: string };
  const details = e.details || e.message || String(err);
  const code = typeof e.code === 'number' && e.code > 0 && e.code < 17 ? e.code : e.userError ? status.FAILED_PRECONDITION : status.INTERNAL;
  return { code, details, message: details, metadata: new Metadata() };
}

function handle<Req, Res>(fn: (req: Req) => Promise<Res> | Res) {
  return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (r) => cb(null, r),
        (err: unknown) => cb(toServiceError(err)),
      );
  };
}

export async function startLocalApi(d: Daemon, socket: string, extra: ExtraService[], log: Logger): Promise<Server> {
  await rm(socket, { force: true }); // a socket left by a killed daemon
  const server = new Server();
  server.addService(DaemonService, {
    init: handle<InitRequest, InitResponse>((r) => d.init(r)),
    join: handle<JoinRequest, JoinResponse>((r) => d.join(r)),
    leave: handle<LeaveRequest, LeaveResponse>(async (r) => ({ warnings: await d.leave(r) })),
    info: handle<InfoRequest, InfoResponse>(() => d.info()),
    unlock: handle<UnlockRequest, UnlockResponse>(async (r) => {
      await d.unlock(r);
      return {};
    }),
  } as UntypedServiceImplementation);
  for (const s of extra) server.addService(s.definition, s.implementation);
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  await chmod(socket, 0o600);
  log.info({ socket }, 'local API listening');
  return server;
}
