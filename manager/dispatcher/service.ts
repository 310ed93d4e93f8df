// The Dispatcher gRPC service over a Dispatcher: identity from the call, refusals as status
// codes. The daemon adds it to its cluster gRPC server:
//   server.addService(DispatcherService, dispatcherService(dispatcher));
import type { sendUnaryData, ServerReadableStream, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type {
  AssignmentsMessage,
  AssignmentsRequest,
  DispatcherServer,
  HeartbeatRequest,
  HeartbeatResponse,
  LogSubscription,
  LogSubscriptionsRequest,
  PublishLogsMessage,
  PublishLogsResponse,
  SessionMessage,
  SessionRequest,
  UpdateTaskStatusRequest,
  UpdateTaskStatusResponse,
} from '../../proto/gen/dispatcher.js';
import type { Dispatcher, StreamSink } from './dispatcher.js';
import { status } from '@grpc/grpc-js';
import { asRefusal, DispatcherRefusal, unauthenticated } from './errors.js';
import { peerHost } from './nodes.js';
import type { CallerInfo, NodeIdentity } from './options.js';

function who(d: Dispatcher, call: CallerInfo): NodeIdentity {
  try {
    const id = d.identify(call);
    if (!id.nodeId) throw new Error('empty node id');
    return id;
  } catch (err) {
    throw unauthenticated((err as Error).message);
  }
}

/**
 * Messages one stream may hold for a reader that does not take them. Assignments wait for the
 * stream to drain (NodeAssignments gathers the changes meanwhile), so only a stuck agent meets
 * this: its stream ends RESOURCE_EXHAUSTED and the agent's new session starts from a COMPLETE set.
 */
export const MAX_STREAM_BACKLOG = 256;

/** A server stream as a sink that ignores writes after it ended or the client went away. */
function sinkFor<T>(call: ServerWritableStream<unknown, T>): StreamSink<T> {
  let open = true;
  call.on('cancelled', () => {
    open = false;
  });
  call.on('error', () => {
    open = false;
  });
  const sink: StreamSink<T> = {
    write(msg: T) {
      if (!open || call.cancelled) return;
      if (call.writableLength >= MAX_STREAM_BACKLOG) {
        sink.end(new DispatcherRefusal(status.RESOURCE_EXHAUSTED, `stream fell more than ${MAX_STREAM_BACKLOG} messages behind and was closed; open a new session`));
        return;
      }
      call.write(msg);
    },
    end(err?: Error) {
      if (!open) return;
      open = false;
      if (err) call.emit('error', asRefusal(err).toServiceError());
      else call.end();
    },
    backlogged: () => open && call.writableNeedDrain,
    onDrain(fn: () => void) {
      call.once('drain', () => {
        if (open && !call.cancelled) fn();
      });
    },
  };
  return sink;
}

export function dispatcherService(d: Dispatcher): DispatcherServer {
  return {
    session(call: ServerWritableStream<SessionRequest, SessionMessage>): void {
      const sink = sinkFor(call);
      let id: NodeIdentity;
      try {
        id = who(d, call);
      } catch (err) {
        sink.end(err as Error);
        return;
      }
      call.on('cancelled', () => d.sessionStreamClosed(id.nodeId, sink));
      d.openSession(id, call.request, peerHost(call.getPeer()), sink).catch((err: unknown) => sink.end(err as Error));
    },

    heartbeat(call: ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>, cb: sendUnaryData<HeartbeatResponse>): void {
      try {
        const { periodMs } = d.heartbeat(who(d, call), call.request.sessionId);
        cb(null, { period: { nanos: BigInt(periodMs) * 1_000_000n } });
      } catch (err) {
        cb(asRefusal(err).toServiceError());
      }
    },

    assignments(call: ServerWritableStream<AssignmentsRequest, AssignmentsMessage>): void {
      const sink = sinkFor(call);
      try {
        const id = who(d, call);
        call.on('cancelled', () => d.assignmentsClosed(id.nodeId, sink));
        d.openAssignments(id, call.request.sessionId, sink);
      } catch (err) {
        sink.end(err as Error);
      }
    },

    updateTaskStatus(call: ServerUnaryCall<UpdateTaskStatusRequest, UpdateTaskStatusResponse>, cb: sendUnaryData<UpdateTaskStatusResponse>): void {
      let id: NodeIdentity;
      try {
        id = who(d, call);
      } catch (err) {
        cb(asRefusal(err).toServiceError());
        return;
      }
      d.updateTaskStatus(id, call.request).then(
        () => cb(null, {}),
        (err: unknown) => cb(asRefusal(err).toServiceError()),
      );
    },

    logSubscriptions(call: ServerWritableStream<LogSubscriptionsRequest, LogSubscription>): void {
      const sink = sinkFor(call);
      try {
        const id = who(d, call);
        call.on('cancelled', () => d.logSubscriptionsClosed(id.nodeId, sink));
        d.openLogSubscriptions(id, call.request.sessionId, sink);
      } catch (err) {
        sink.end(err as Error);
      }
    },

    publishLogs(call: ServerReadableStream<PublishLogsMessage, PublishLogsResponse>, cb: sendUnaryData<PublishLogsResponse>): void {
      let done = false;
      const finish = (err?: unknown): void => {
        if (done) return;
        done = true;
        if (err) cb(asRefusal(err).toServiceError());
        else cb(null, {});
      };
      let id: NodeIdentity;
      try {
        id = who(d, call);
      } catch (err) {
        finish(err);
        return;
      }
      call.on('data', (msg: PublishLogsMessage) => {
        if (done) return;
        try {
          d.publishLogs(id, msg);
        } catch (err) {
          finish(err);
        }
      });
      call.on('end', () => finish());
      call.on('error', () => {
        done = true;
      });
    },
  };
}
