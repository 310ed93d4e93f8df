// The parts of a running node: the agent (always) and, on managers, the manager with its
// cluster API server. Started from certificates and state already on disk.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ensurePrivateDir } from '../proto/file-modes.js';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Agent } from '../agent/index.js';
import { fsOps, ImageStore } from '../agent/images/index.js';
import { ContainerRuntime } from '../agent/runtime/index.js';
import { clientCredentials, serverCredentials, type NodeAuthenticator, type NodeCertificates } from '../manager/ca/index.js';
import { Manager, type RaftTiming } from '../manager/node/index.js';
import type { RecordCipher } from '../manager/raft/storage/index.js';
import { ControlService, type ControlServer } from '../proto/gen/control.js';
import type { SessionMessage } from '../proto/gen/dispatcher.js';
import { managerControl } from './control.js';
import { authenticatorFor, identifyWith, startClusterApi, type ExtraService } from './cluster-api.js';
import type { DaemonPaths } from './paths.js';

export interface Tuning {
  raft?: RaftTiming;
  /** Dispatcher heartbeat period when the cluster object sets none. */
  heartbeatMs?: number;
  /** How long a node whose session stream closed may take to come back before it is down. */
  disconnectGraceMs?: number;
  agentBackoff?: { initialMs?: number; maxMs?: number };
  cgroupParent?: string;
  /** How often a manager reads its own Node in its store for a role change (no signing); default 3 s. */
  roleCheckMs?: number;
  /** Tests only: validity of the node certificates this manager signs, overriding the cluster's
   *  node_cert_expiry and its one-hour minimum (so that renewals happen within a test). */
  nodeCertExpiryMs?: number;
  /** Replicas one service may ask for (the control API's limit; default 1000). */
  maxReplicas?: number;
}

export interface ManagerParts {
  manager: Manager;
  /** Control over this manager for the local socket (no certificate check: file permissions). */
  control: ControlServer;
  server: Server;
  auth: NodeAuthenticator;
}

export function newRaftId(): bigint {
  for (;;) {
    const id = randomBytes(8).readBigUInt64BE(0) >> 1n;
    if (id !== 0n) return id;
  }
}

export async function startManagerParts(o: {
  paths: DaemonPaths;
  certs: NodeCertificates;
  nodeId: string;
  clusterId: string;
  raftId: bigint;
  advertiseAddr: string;
  listenAddr: string;
  members: Map<bigint, string>;
  join: boolean;
  /** A manager that just joined: node id -> raft id of the members (the leader's answer). */
  joinedWith?: ReadonlyMap<string, bigint>;
  tuning: Tuning;
  extra?: (m: Manager) => ExtraService[];
  logger: Logger;
  /** Seals the Raft WAL and snapshots (daemon/raft-keys.ts). */
  raftCipher?: { cipher: RecordCipher; allowPlaintext: boolean };
}): Promise<ManagerParts> {
  ensurePrivateDir(o.paths.raftDir);
  let auth: NodeAuthenticator | undefined;
  const creds = clientCredentials(o.certs);
  const manager = await Manager.start({
    nodeId: o.nodeId,
    raftId: o.raftId,
    clusterId: o.clusterId,
    raftDir: o.paths.raftDir,
    apiAddr: o.advertiseAddr,
    raftListen: raftListenFor(o.listenAddr),
    members: o.members,
    join: o.join,
    raft: o.tuning.raft,
    raftCipher: o.raftCipher,
    // Raft traffic is mutual TLS: unlike the cluster API (where joining nodes have no certificate
    // yet), the Raft port requires a client certificate of this cluster.
    // (renewable certificates: new handshakes use the renewed certificate, see manager/ca)
    serverCredentials: serverCredentials(o.certs, { requireClientCert: true }),
    channelCredentials: creds,
    // ... and it must be the certificate of a current manager, speaking for its own member only
    raftPeers: { rootPem: o.certs.rootPem, joinedWith: o.joinedWith },
    identify: identifyWith(() => auth!),
    dispatcher: { heartbeatPeriodMs: o.tuning.heartbeatMs, disconnectGraceMs: o.tuning.disconnectGraceMs },
    // fault injection for the lab's supervision test: these leader components' store reads throw
    failingStoreReads: process.env.SHOAL_FAULT_STORE_READS?.split(',').filter((c) => c !== ''),
    logger: o.logger,
  });
  auth = authenticatorFor(o.certs.rootPem, manager.store);
  try {
    const log = o.logger.child({ component: 'controlapi' });
    const remote = { definition: ControlService, implementation: managerControl(manager, o.certs, () => auth!, log, o.tuning.maxReplicas) };
    const server = await startClusterApi({ listen: o.listenAddr, certs: o.certs, manager, auth, certExpiryMs: o.tuning.nodeCertExpiryMs, extra: [remote, ...(o.extra?.(manager) ?? [])], logger: o.logger });
    return { manager, server, auth, control: managerControl(manager, o.certs, null, log, o.tuning.maxReplicas) };
  } catch (err) {
    await manager.stop();
    throw err;
  }
}

/** The Raft transport binds next to the cluster API (port + 1), on the same interface. */
function raftListenFor(listen: string): string {
  const i = listen.lastIndexOf(':');
  return `${listen.slice(0, i)}:${Number(listen.slice(i + 1)) + 1}`;
}

export async function startAgent(o: {
  paths: DaemonPaths;
  certs: NodeCertificates;
  managers: string[];
  tuning: Tuning;
  logger: Logger;
  /** Every session message (the daemon learns role changes from the Node in it). */
  onSessionMessage?: (msg: SessionMessage) => void;
}): Promise<Agent> {
  fsOps(); // built at install time: a missing addon fails the start, naming the fix, not the first image load
  ensurePrivateDir(o.paths.agentDir);
  ensurePrivateDir(o.paths.containersDir);
  const runtime = new ContainerRuntime({
    stateDir: o.paths.containersDir,
    cgroupParent: o.tuning.cgroupParent ?? process.env.SHOAL_CGROUP_PARENT ?? 'shoal',
    logger: o.logger.child({ component: 'runtime' }),
  });
  const images = new ImageStore({ root: o.paths.imagesDir, logger: o.logger.child({ component: 'images' }) });
  await images.removeStaleTemp(); // what a load killed mid-way (SIGKILL, OOM, reboot) left in its tmp/
  const agent = new Agent({
    runtime,
    images,
    managers: o.managers,
    credentials: clientCredentials(o.certs),
    stateDir: o.paths.agentDir,
    logger: o.logger,
    defaultNetwork: 'host',
    // overlay-net's ledger persists (adopt reconciles it with the kernel); task namespaces are volatile
    overlay: { stateDir: join(o.paths.root, 'overlay-net'), netnsDir: join(o.paths.run, 'netns') },
    backoff: o.tuning.agentBackoff,
    onSessionMessage: o.onSessionMessage,
  });
  await agent.start();
  return agent;
}
