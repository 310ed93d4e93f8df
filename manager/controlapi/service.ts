// controlService(deps): the Control gRPC service over the manager's store. Writes run on the
// leader (a follower forwards them, once, with a deadline); reads are served locally after a
// linearizable read barrier; every call is authorized first (workers are refused).
import { Metadata, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CallWithAuth } from '../ca/identity.js';
import type { ControlClient, ControlServer, ServiceLogsMessage, ServiceLogsRequest, WatchTasksEvent, WatchTasksRequest } from '../../proto/gen/control.js';
import type { MemoryStore } from '../store/index.js';
import { getCluster, rotateJoinToken } from './cluster.js';
import { getUnlockKey, rotateUnlockKey, updateAutolock } from './autolock.js';
import { toServiceError, unavailable } from './errors.js';
import { forwardError, NO_LEADER_RETRY, serviceLogs, type SubscribeLogs } from './logs.js';
import { getNode, listNodes, removeNode, updateNode } from './nodes.js';
import { createService, getService, listServices, removeService, specLimits, updateService } from './services.js';
import { createNetwork, getNetwork, listNetworks, removeNetwork } from './networks.js';
import { createConfig, createSecret, getConfig, getSecret, listConfigs, listSecrets, removeConfig, removeSecret, updateConfig, updateSecret } from './secrets.js';
import { getTask, listTasks, watchTasks } from './tasks.js';

export type ControlMethod = keyof ControlServer & string;

export interface ControlDeps {
  store: MemoryStore;
  /** True while this manager is the Raft leader (writes are applied here). */
  isLeader(): boolean;
  /** A client to the current leader's control API, or null when no leader is known. */
  leaderClient(): ControlClient | null;
  /** Throws (ideally a grpc ServiceError, e.g. PERMISSION_DENIED) to refuse the caller. */
  authorize(call: CallWithAuth, method: ControlMethod): void;
  /** Linearizable-read hook; without it reads see the local store as it is. */
  readBarrier?: () => Promise<void>;
  /** Deadline of a forwarded write (default 15 s). */
  forwardTimeoutMs?: number;
  logger?: Logger;
  /** The leader's `dispatcher.subscribeLogs` (ServiceLogs); without it this manager serves no logs. */
  subscribeLogs?: SubscribeLogs;
  /** Replicas (and a job's concurrent tasks) one service may ask for (default DEFAULT_MAX_REPLICAS). */
  maxReplicas?: number;
}

/** Marks a call forwarded by a follower: it must not be forwarded again. */
export const FORWARDED_HEADER = 'shoal-forwarded';

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => void;
type ForwardFn<Req, Res> = (req: Req, md: Metadata, opts: { deadline: Date }, cb: (err: Error | null, res: Res) => void) => unknown;

export function controlService(deps: ControlDeps): ControlServer {
  const store = deps.store;
  const barrier = deps.readBarrier ?? (store as { readBarrier?: () => Promise<void> }).readBarrier?.bind(store);
  const timeout = deps.forwardTimeoutMs ?? 15_000;

  const read = <Req, Res>(method: ControlMethod, fn: (req: Req) => Res | Promise<Res>): Unary<Req, Res> => {
    return (call, cb) => {
      Promise.resolve()
        .then(async () => {
          deps.authorize(call, method);
          if (barrier) {
            try {
              await barrier();
            } catch (err) {
              if ((err as { userError?: boolean }).userError === true) throw err;
              throw unavailable(`cannot read the cluster state consistently (no leader or no quorum): ${(err as Error).message}`);
            }
          }
          return fn(call.request);
        })
        .then(
          (res) => cb(null, res),
          (err: unknown) => cb(toServiceError(err)),
        );
    };
  };

  const write = <Req, Res>(method: ControlMethod, fn: (req: Req) => Promise<Res>): Unary<Req, Res> => {
    return (call, cb) => {
      Promise.resolve()
        .then(async () => {
          deps.authorize(call, method);
          if (deps.isLeader()) return fn(call.request);
          if (call.metadata.get(FORWARDED_HEADER).length > 0) throw unavailable('this manager is not the leader any more; retry');
          const leader = deps.leaderClient();
          if (!leader) throw unavailable(`${NO_LEADER_RETRY} (is a quorum of managers up?)`);
          deps.logger?.debug({ method }, 'forwarding write to the leader');
          const md = new Metadata();
          md.set(FORWARDED_HEADER, '1');
          const forward = (leader as unknown as Record<string, ForwardFn<Req, Res>>)[method]!.bind(leader);
          return new Promise<Res>((resolve, reject) => {
            forward(call.request, md, { deadline: new Date(Date.now() + timeout) }, (err, res) => (err ? reject(forwardError(err)) : resolve(res)));
          });
        })
        .then(
          (res) => cb(null, res),
          (err: unknown) => cb(toServiceError(err)),
        );
    };
  };

  return {
    createService: write('createService', (r) => createService(store, r, specLimits(store, deps.maxReplicas))),
    updateService: write('updateService', (r) => updateService(store, r, specLimits(store, deps.maxReplicas))),
    removeService: write('removeService', (r) => removeService(store, r)),
    updateNode: write('updateNode', (r) => updateNode(store, r)),
    removeNode: write('removeNode', (r) => removeNode(store, r)),
    rotateJoinToken: write('rotateJoinToken', (r) => rotateJoinToken(store, r)),
    updateAutolock: write('updateAutolock', (r) => updateAutolock(store, r)),
    rotateUnlockKey: write('rotateUnlockKey', () => rotateUnlockKey(store)),
    getService: read('getService', (r) => getService(store, r)),
    listServices: read('listServices', (r) => listServices(store, r)),
    listTasks: read('listTasks', (r) => listTasks(store, r)),
    getTask: read('getTask', (r) => getTask(store, r)),
    listNodes: read('listNodes', (r) => listNodes(store, r)),
    getNode: read('getNode', (r) => getNode(store, r)),
    getCluster: read('getCluster', () => getCluster(store)),
    getUnlockKey: read('getUnlockKey', () => getUnlockKey(store)),
    createSecret: write('createSecret', (r) => createSecret(store, r)),
    updateSecret: write('updateSecret', (r) => updateSecret(store, r)),
    removeSecret: write('removeSecret', (r) => removeSecret(store, r)),
    getSecret: read('getSecret', (r) => getSecret(store, r)),
    listSecrets: read('listSecrets', (r) => listSecrets(store, r)),
    createConfig: write('createConfig', (r) => createConfig(store, r)),
    updateConfig: write('updateConfig', (r) => updateConfig(store, r)),
    removeConfig: write('removeConfig', (r) => removeConfig(store, r)),
    getConfig: read('getConfig', (r) => getConfig(store, r)),
    listConfigs: read('listConfigs', (r) => listConfigs(store, r)),
    createNetwork: write('createNetwork', (r) => createNetwork(store, r)),
    removeNetwork: write('removeNetwork', (r) => removeNetwork(store, r)),
    getNetwork: read('getNetwork', (r) => getNetwork(store, r)),
    listNetworks: read('listNetworks', (r) => listNetworks(store, r)),
    watchTasks: (call: ServerWritableStream<WatchTasksRequest, WatchTasksEvent>) => void streamTasks(deps, call),
    serviceLogs: (call: ServerWritableStream<ServiceLogsRequest, ServiceLogsMessage>) => void serviceLogs(deps, call, FORWARDED_HEADER),
  };
}

async function streamTasks(deps: ControlDeps, call: ServerWritableStream<WatchTasksRequest, WatchTasksEvent>): Promise<void> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  call.on('cancelled', stop);
  call.on('close', stop);
  try {
    deps.authorize(call, 'watchTasks');
    // The client's flow control holds back writes: wait for it, but stop waiting as soon as the
    // store drops this watch for falling too far behind (its memory is freed at that moment).
    let fellBehind: Error | undefined;
    let unblock: (() => void) | undefined;
    const onFellBehind = (err: Error): void => {
      fellBehind = err;
      unblock?.();
    };
    for await (const ev of watchTasks(deps.store, call.request, ac.signal, onFellBehind)) {
      if (ac.signal.aborted) break;
      if (!call.write(ev)) {
        await new Promise<void>((r) => {
          unblock = r;
          call.once('drain', () => r());
        });
        unblock = undefined;
      }
      if (fellBehind) throw fellBehind;
    }
    call.end();
  } catch (err) {
    // grpc-js sends a server stream's status from an 'error' event.
    if (!ac.signal.aborted) call.emit('error', toServiceError(err));
  } finally {
    ac.abort();
  }
}

