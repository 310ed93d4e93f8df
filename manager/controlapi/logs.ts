// ServiceLogs: a service's task logs, read by the leader's dispatcher from the nodes that run
// the tasks. A follower pipes the leader's stream through (logs never touch the store, so only
// the leader, which holds the agents' sessions, can answer).
import { Metadata, status, type ClientReadableStream, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { ServiceLogsLine, ServiceLogsMessage, ServiceLogsRequest } from '../../proto/gen/control.js';
import type { ControlDeps } from './service.js';
import { failedPrecondition, toServiceError, unavailable } from './errors.js';
import { findService } from './lookup.js';

/** One line as the dispatcher's LogBroker hands it out (manager/dispatcher TaskLogLine). */
export interface LogsLine {
  taskId: string;
  nodeId: string;
  timeMs: number;
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

/** The leader's `dispatcher.subscribeLogs`, as ControlDeps takes it. */
export type SubscribeLogs = (
  req: { taskIds: string[]; follow: boolean; tail: number },
  signal: AbortSignal,
) => { unreachable: string[]; lines: AsyncIterable<LogsLine> };

/** The message a forward refused by a dead or vanished leader turns into. */
export const NO_LEADER_RETRY = 'no leader (an election is in progress): retry in a moment';

type Call = ServerWritableStream<ServiceLogsRequest, ServiceLogsMessage>;

async function write(call: Call, msg: ServiceLogsMessage): Promise<void> {
  if (!call.write(msg)) await new Promise<void>((r) => call.once('drain', () => r()));
}

/** Serves one ServiceLogs call: here on the leader, else forwarded to it. */
export async function serviceLogs(deps: ControlDeps, call: Call, forwardedHeader: string): Promise<void> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  call.on('cancelled', stop);
  call.on('close', stop);
  try {
    deps.authorize(call, 'serviceLogs');
    if (deps.isLeader()) await fromDispatcher(deps, call, ac.signal);
    else await fromLeader(deps, call, ac.signal, forwardedHeader);
    if (!ac.signal.aborted) call.end();
  } catch (err) {
    // grpc-js sends a server stream's status from an 'error' event.
    if (!ac.signal.aborted) call.emit('error', toServiceError(err));
  } finally {
    ac.abort();
  }
}

async function fromDispatcher(deps: ControlDeps, call: Call, signal: AbortSignal): Promise<void> {
  const subscribe = deps.subscribeLogs;
  if (!subscribe) throw failedPrecondition("this manager cannot serve service logs: it needs the log stream of the leader's dispatcher, which is not wired to its control API");
  const { name, tasks, hosts } = deps.store.view((tx) => {
    const svc = findService(tx, call.request.serviceId);
    const tasks = tx.tasks.find('service', svc.id).filter((t) => t.nodeId);
    const hosts = new Map<string, string>();
    for (const t of tasks) hosts.set(t.nodeId, tx.nodes.get(t.nodeId)?.description?.hostname ?? t.nodeId);
    return { name: svc.spec?.annotations?.name ?? svc.id, tasks: new Map(tasks.map((t) => [t.id, t.slot])), hosts };
  });
  const { unreachable, lines } = subscribe({ taskIds: [...tasks.keys()], follow: call.request.follow, tail: Number(call.request.tail) }, signal);
  await write(call, { lines: [], unreachableNodes: unreachable.map((n) => hosts.get(n) ?? n), serviceName: name });
  for await (const l of lines) {
    if (signal.aborted) break;
    const line: ServiceLogsLine = {
      taskId: l.taskId,
      nodeId: l.nodeId,
      timeMs: BigInt(l.timeMs),
      stderr: l.stream === 'stderr',
      data: l.data,
      slot: tasks.get(l.taskId) ?? 0,
      hostname: hosts.get(l.nodeId) ?? l.nodeId,
    };
    await write(call, { lines: [line], unreachableNodes: [], serviceName: '' });
  }
}

async function fromLeader(deps: ControlDeps, call: Call, signal: AbortSignal, forwardedHeader: string): Promise<void> {
  if (call.metadata.get(forwardedHeader).length > 0) throw unavailable('this manager is not the leader any more; retry');
  const leader = deps.leaderClient();
  if (!leader) throw unavailable(NO_LEADER_RETRY);
  const md = new Metadata();
  md.set(forwardedHeader, '1');
  const upstream: ClientReadableStream<ServiceLogsMessage> = leader.serviceLogs(call.request, md);
  signal.addEventListener('abort', () => upstream.cancel(), { once: true });
  await new Promise<void>((resolve, reject) => {
    upstream.on('data', (m: ServiceLogsMessage) => {
      if (!call.write(m)) {
        upstream.pause();
        call.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => resolve());
    upstream.on('error', (err: ServiceError) => {
      if (err.code === status.CANCELLED && signal.aborted) resolve();
      else reject(forwardError(err));
    });
  });
}

/** A forward's failure as the caller should see it: a leader that is gone is "no leader". */
export function forwardError(err: unknown): unknown {
  const e = err as { code?: unknown; details?: string };
  if (e?.code === status.UNAVAILABLE) {
    // Our own UNAVAILABLE answers (e.g. "not the leader any more") already say what to do;
    // grpc's transport texts ("No connection established") do not.
    const own = typeof e.details === 'string' && /leader|quorum/i.test(e.details);
    return own ? err : unavailable(NO_LEADER_RETRY);
  }
  return err;
}
