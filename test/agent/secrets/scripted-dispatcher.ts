// A dispatcher that plays a script, over real gRPC on loopback: it opens the session, answers
// heartbeats, records status reports, and sends exactly the assignment messages a test pushes.
// The real dispatcher's side (which secrets go to which node, and when) is tested with it in
// manager/dispatcher; this one lets the agent's side be tested on its own.
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import {
  AssignmentsMessage,
  AssignmentsType,
  DispatcherService,
  type DeepPartial,
  type AssignmentsRequest,
  type DispatcherServer,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type UpdateTaskStatusRequest,
  type UpdateTaskStatusResponse,
} from '../../../proto/gen/dispatcher.js';
import type { TaskStatus } from '../../../proto/gen/types.js';

export interface ScriptedDispatcher {
  addr: string;
  /** Latest status reported per task id. */
  statuses: Map<string, TaskStatus>;
  /** Resolves once the agent listens for assignments. */
  assignmentsOpen(): Promise<void>;
  send(msg: DeepPartial<AssignmentsMessage>): void;
  close(): Promise<void>;
}

export async function startScriptedDispatcher(nodeId: string): Promise<ScriptedDispatcher> {
  const statuses = new Map<string, TaskStatus>();
  let stream: ServerWritableStream<AssignmentsRequest, AssignmentsMessage> | undefined;
  let opened: () => void = () => undefined;
  const open = new Promise<void>((r) => (opened = r));
  const keepOpen = (call: ServerWritableStream<unknown, unknown>): void => {
    call.on('cancelled', () => undefined);
  };
  const impl: DispatcherServer = {
    session(call) {
      keepOpen(call);
      call.write({ sessionId: 'shoalsa-session', nodeId, managers: [], heartbeatPeriod: { nanos: 500_000_000n }, node: undefined });
    },
    heartbeat(_call: ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>, cb: sendUnaryData<HeartbeatResponse>) {
      cb(null, { period: { nanos: 500_000_000n } });
    },
    assignments(call) {
      keepOpen(call);
      stream = call;
      opened();
    },
    updateTaskStatus(call: ServerUnaryCall<UpdateTaskStatusRequest, UpdateTaskStatusResponse>, cb: sendUnaryData<UpdateTaskStatusResponse>) {
      for (const u of call.request.updates) if (u.status) statuses.set(u.taskId, u.status);
      cb(null, {});
    },
    logSubscriptions(call) {
      keepOpen(call);
    },
    publishLogs(call, cb) {
      call.on('data', () => undefined);
      call.on('end', () => cb(null, {}));
    },
  };
  const server = new Server();
  server.addService(DispatcherService, impl);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  let seq = 0;
  return {
    addr: `127.0.0.1:${port}`,
    statuses,
    assignmentsOpen: () => open,
    send(msg) {
      if (!stream) throw new Error('the agent has not opened its assignments stream yet');
      const id = String(++seq);
      stream.write(AssignmentsMessage.fromPartial({ type: AssignmentsType.COMPLETE, appliesTo: String(seq - 1), resultsIn: id, ...msg }));
    },
    close: () =>
      new Promise<void>((r) => {
        server.forceShutdown();
        r();
      }),
  };
}
