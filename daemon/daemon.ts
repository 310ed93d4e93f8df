// The `shoal daemon` process: always an agent, also a manager on manager hosts. It owns the
// node's membership (init, join, leave), resumes from disk after a restart, and serves the local
// Daemon API. It is the only code that composes manager/ and agent/ (see README.md).
import { rm, stat } from 'node:fs/promises';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Agent, hostDescription } from '../agent/index.js';
import type { InfoResponse, InitRequest, InitResponse, JoinRequest, JoinResponse, LeaveRequest, UnlockRequest } from '../proto/gen/daemon.js';
import { NodeRole } from '../proto/gen/types.js';
import {
  bootstrapNode,
  certificateInfo,
  createNodeKeyAndCSR,
  createRootCA,
  generateJoinTokens,
  loadNodeCertificates,
  nodeKeyIsEncrypted,
  newNodeId,
  RenewableCertificates,
  saveNodeCertificates,
  nodeCertExpiryMs,
  signNodeCertificate,
  type NodeCertificates,
  type NodeRoleName,
} from '../manager/ca/index.js';
import { withApiPort, type Manager } from '../manager/node/index.js';
import { defaultAdvertiseHost, hostOf, portOf } from './net.js';
import { DaemonStateError } from './errors.js';
import { joinRaft, membersByNode } from './raft-join.js';
import { newRaftId, startAgent, startManagerParts, type ManagerParts, type Tuning } from './node-runtime.js';
import type { ExtraService } from './cluster-api.js';
import { secureDaemonPaths, type DaemonPaths } from './paths.js';
import { renewCertificate, RoleWatch } from './role-watch.js';
import { loadNodeState, saveNodeState, type NodeState } from './state.js';
import { writeClusterObjects } from './cluster-objects.js';
import { RaftKeys } from './raft-keys.js';
import { ManagerLockedError, newUnlockKey } from '../manager/keys/index.js';
import { CidrError, checkDefaultPool } from '../manager/allocator/index.js';
import { bestEffort, settled, undoFailures } from '../proto/undo.js';
import { shoalVersion } from '../rules/version.js';
import { localControl } from './control.js';
import { leaveRaftGroup, managerCounts, managerLeaveRefusal } from './leave-raft.js';
import { removeTaskContainers } from './leave-tasks.js';

export interface DaemonOptions {
  paths: DaemonPaths;
  listenAddr?: string; // default 0.0.0.0:4243
  advertiseAddr?: string; // default: this host's first non-loopback IPv4, port of listenAddr
  tuning?: Tuning;
  /** Services added to a manager's cluster API (the control API). */
  extraServices?: (m: Manager) => ExtraService[];
  logger: Logger;
}

export class Daemon {
  private state: NodeState | null = null;
  private certs: RenewableCertificates | null = null;
  private mgr: ManagerParts | undefined;
  private agent: Agent | undefined;
  private phase: 'inactive' | 'pending' | 'active' | 'error' | 'locked' = 'inactive';
  private lastError = '';
  private queue: Promise<unknown> = Promise.resolve();
  private roleWatch: RoleWatch | undefined;
  private readonly log: Logger;

  private readonly keys: RaftKeys;

  constructor(private readonly o: DaemonOptions) {
    this.log = o.logger.child({ component: 'daemon' });
    this.keys = new RaftKeys(o.paths.raftDir, this.log);
  }

  get paths(): DaemonPaths {
    return this.o.paths;
  }

  get manager(): Manager | undefined {
    return this.mgr?.manager;
  }

  /** The Control service for the local socket (this manager's, or a refusal on workers). */
  localControlService(): ExtraService {
    return localControl(() => this.mgr?.control, () => this.state?.role ?? null, () => this.phase === 'locked');
  }

  get nodeState(): NodeState | null {
    return this.state;
  }

  /** Resumes as the node recorded on disk, if any (after a restart, a reboot or a SIGKILL). */
  async resume(): Promise<void> {
    secureDaemonPaths(this.o.paths, this.log);
    const state = await loadNodeState(this.o.paths.stateFile);
    if (!state) return;
    if (state.role === 'manager') {
      // the Raft keys first: under autolock node.key is encrypted too
      const keys = await this.keys.open().catch((err: unknown) => {
        this.state = state;
        this.fail(err);
        throw err;
      });
      if (keys === 'locked') {
        this.state = state;
        this.phase = 'locked';
        this.log.warn({ node: state.nodeId }, 'manager is locked (autolock): it serves nothing until `shoal unlock` is given the unlock key');
        return;
      }
    }
    const certs = await this.loadCertificates();
    this.state = state;
    this.certs = certs;
    this.phase = 'pending';
    await this.startResumed(state, certs);
  }

  private async loadCertificates(): Promise<RenewableCertificates> {
    const certs = await loadNodeCertificates(this.o.paths.certDir, this.keys.nodeKeyPassphrase());
    if (!certs) throw new DaemonStateError(`${this.o.paths.stateFile} names a cluster but ${this.o.paths.certDir} holds no certificates: run \`shoal leave --force\` and join again`);
    return certs;
  }

  /** A locked manager (autolock, restarted) given its unlock key: starts as resume() would have. */
  unlock(req: UnlockRequest): Promise<void> {
    return this.serial(async () => {
      const s = this.state;
      if (this.phase !== 'locked' || !s) throw new DaemonStateError(s ? 'this node is not locked: there is nothing to unlock' : 'this node is not part of a cluster: there is nothing to unlock');
      await this.keys.unlock(req.unlockKey);
      this.certs = await this.loadCertificates();
      this.phase = 'pending';
      await this.startResumed(s, this.certs);
    });
  }

  private async startResumed(state: NodeState, certs: RenewableCertificates): Promise<void> {
    try {
      if (state.role === 'manager') {
        const members = new Map((state.raftMembers ?? []).map(([id, a]) => [BigInt(id), a]));
        this.mgr = await this.startManager(BigInt(state.raftId ?? '0'), members, false);
      }
      this.agent = await startAgent({ paths: this.o.paths, certs, managers: state.managers, tuning: this.tuning, logger: this.o.logger, onSessionMessage: (m) => this.roleWatch?.sessionMessage(m) });
      this.phase = 'active';
      this.watchRole();
      this.log.info({ node: state.nodeId, cluster: state.clusterId, role: state.role }, 'resumed cluster membership from disk');
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  init(req: InitRequest): Promise<InitResponse> {
    return this.serial(async () => {
      this.assertNoCluster('init');
      try {
        checkDefaultPool(req.defaultAddrPool ?? [], req.defaultAddrPoolMaskLength ?? 0);
      } catch (err) {
        throw err instanceof CidrError ? new DaemonStateError(err.message) : err;
      }
      const listen = req.listenAddr || this.o.listenAddr || '0.0.0.0:4243';
      const advertise = this.advertise(req.advertiseAddr, listen);
      const clusterId = newNodeId();
      const nodeId = newNodeId();
      const raftId = newRaftId();
      this.phase = 'pending';
      try {
        const ca = await createRootCA({ clusterId });
        const tokens = generateJoinTokens(ca.hash);
        const { keyPem, csrPem } = await createNodeKeyAndCSR();
        // the cluster spec is written after this with the default expiry: sign for what it will say
        const expiryMs = nodeCertExpiryMs(undefined, this.o.tuning?.nodeCertExpiryMs);
        const certPem = await signNodeCertificate({ csrPem, nodeId, role: 'manager', clusterId, ca, addresses: [hostOf(advertise)], expiryMs });
        const certs = new RenewableCertificates({ keyPem, certPem, rootPem: ca.certPem });
        const unlockKey = req.autolock ? newUnlockKey() : '';
        await this.keys.create(unlockKey || undefined);
        await saveNodeCertificates(this.o.paths.certDir, certs, this.keys.nodeKeyPassphrase());
        this.certs = certs;
        this.mgr = await this.startManager(raftId, new Map([[raftId, advertise]]), false, listen, advertise, { clusterId, nodeId });
        await writeClusterObjects(this.mgr.manager, { clusterId, nodeId, raftId, advertise, ca, tokens, heartbeatMs: this.o.tuning?.heartbeatMs, unlockKey }, { cidrs: req.defaultAddrPool ?? [], maskLength: req.defaultAddrPoolMaskLength ?? 0 });
        await this.commit({ clusterId, nodeId, role: 'manager', raftId: raftId.toString(), advertiseAddr: advertise, listenAddr: listen, managers: [advertise] });
        this.agent = await startAgent({ paths: this.o.paths, certs, managers: [advertise], tuning: this.tuning, logger: this.o.logger, onSessionMessage: (m) => this.roleWatch?.sessionMessage(m) });
        this.phase = 'active';
        this.watchRole();
        this.log.info({ node: nodeId, cluster: clusterId, addr: advertise }, 'initialised a new cluster');
        return { nodeId, clusterId, workerToken: tokens.worker, managerToken: tokens.manager, addr: advertise, unlockKey };
      } catch (err) {
        await this.undo();
        throw err;
      }
    });
  }

  join(req: JoinRequest): Promise<JoinResponse> {
    return this.serial(async () => {
      this.assertNoCluster('join');
      if (!req.token) throw new DaemonStateError('join needs --token: get one with `shoal join-token worker` on a manager');
      if (!req.remoteAddr) throw new DaemonStateError('join needs the address of a manager (host:port)');
      const remote = withApiPort(req.remoteAddr);
      const listen = req.listenAddr || this.o.listenAddr || '0.0.0.0:4243';
      const advertise = this.advertise(req.advertiseAddr, listen);
      this.phase = 'pending';
      try {
        const b = await bootstrapNode({ remoteAddr: remote, token: req.token, certDir: this.o.paths.certDir, advertiseAddr: advertise, description: hostDescription() });
        this.certs = b.certs;
        const base = { clusterId: b.clusterId, nodeId: b.nodeId, advertiseAddr: advertise, listenAddr: listen };
        if (b.role === 'manager') {
          const j = await joinRaft(remote, b.certs, advertise);
          const members = new Map(j.members.map((m) => [m.raftId, m.addr]));
          this.mgr = await this.startManager(j.raftId, members, true, listen, advertise, { clusterId: b.clusterId, nodeId: b.nodeId }, membersByNode(j));
          await this.commit({ ...base, role: 'manager', raftId: j.raftId.toString(), managers: [...new Set([advertise, ...members.values()])] });
        } else {
          await this.commit({ ...base, role: 'worker', managers: [remote] });
        }
        this.agent = await startAgent({ paths: this.o.paths, certs: b.certs, managers: this.state!.managers, tuning: this.tuning, logger: this.o.logger, onSessionMessage: (m) => this.roleWatch?.sessionMessage(m) });
        this.phase = 'active';
        this.watchRole();
        this.log.info({ node: b.nodeId, cluster: b.clusterId, role: b.role }, 'joined the cluster');
        return { nodeId: b.nodeId, role: b.role === 'manager' ? NodeRole.MANAGER : NodeRole.WORKER };
      } catch (err) {
        await this.undo();
        throw err;
      }
    });
  }

  /**
   * Takes this node out of its cluster (daemon/leave-*.ts): a manager leaves the Raft group
   * through the leader first (only with force); then the agent's session ends (the managers
   * mark the node down and replace its tasks), every task container is stopped with its stop
   * signal and grace period and removed, and the node's certificates and state are deleted so
   * it can join again as a new node. Resolves with warnings for the user.
   */
  leave(req: LeaveRequest): Promise<string[]> {
    return this.serial(async () => {
      const s = this.state;
      if (!s) return this.forgetUnresumed(req.force);
      const warnings: string[] = [];
      const raftId = BigInt(s.raftId ?? '0');
      if (s.role === 'manager') {
        const m = this.mgr?.manager;
        if (!req.force) {
          throw new DaemonStateError(
            m && this.certs ? managerLeaveRefusal(s.nodeId, await managerCounts(m, raftId, this.certs)) : `this node is a manager: demote it first (\`shoal node demote ${s.nodeId}\` on a manager), or use \`shoal leave --force\` (this can cost the cluster its quorum)`,
          );
        }
        this.phase = 'pending'; // no role change while leaving
        if (m && this.certs) warnings.push(...(await leaveRaftGroup({ manager: m, certs: this.certs, nodeId: s.nodeId, raftId, advertiseAddr: s.advertiseAddr, logger: this.o.logger })));
        else warnings.push(`this manager is not running, so it could not leave the Raft group: on a remaining manager run \`shoal node demote ${s.nodeId}\`, then \`shoal node rm --force ${s.nodeId}\``);
      }
      this.phase = 'pending';
      await this.stopParts();
      const tasks = await removeTaskContainers({ paths: this.o.paths, cgroupParent: this.o.tuning?.cgroupParent, logger: this.o.logger }).catch(
        (err: unknown) => ({ removed: [], failed: [{ taskId: '*', error: (err as Error).message }] }),
      );
      for (const f of tasks.failed) warnings.push(`the container of task ${f.taskId} could not be removed (${f.error}); a node that joins again removes it`);
      await this.wipe();
      this.state = null;
      this.certs = null;
      this.phase = 'inactive';
      this.log.info({ node: s.nodeId, tasksRemoved: tasks.removed.length, warnings }, 'left the cluster');
      return warnings;
    });
  }

  /**
   * Leave on a node whose membership on disk could not be resumed (damaged node.json, missing
   * certificates: resume() names `shoal leave --force` as the fix): forget it, containers too.
   */
  private async forgetUnresumed(force: boolean): Promise<string[]> {
    if (!(await stat(this.o.paths.stateFile).then(() => true, () => false))) throw new DaemonStateError('this node is not part of a cluster');
    if (!force) throw new DaemonStateError(`this node could not resume its cluster membership (${this.lastError || 'see the daemon log'}): \`shoal leave --force\` forgets it, then join again`);
    const tasks = await removeTaskContainers({ paths: this.o.paths, cgroupParent: this.o.tuning?.cgroupParent, logger: this.o.logger });
    await this.wipe();
    this.phase = 'inactive';
    this.lastError = '';
    this.log.info({ tasksRemoved: tasks.removed.length }, 'forgot a cluster membership that could not be resumed');
    return tasks.failed.map((f) => `the container of task ${f.taskId} could not be removed (${f.error})`);
  }

  info(): InfoResponse {
    const s = this.state;
    const m = this.mgr?.manager;
    return {
      nodeId: s?.nodeId ?? '',
      clusterId: s?.clusterId ?? '',
      role: s?.role === 'manager' ? NodeRole.MANAGER : NodeRole.WORKER,
      isLeader: m?.isLeader ?? false,
      leaderAddr: m?.leaderApiAddr() ?? '',
      state: this.phase,
      error: this.phase === 'locked' ? new ManagerLockedError().message : this.lastError,
      managers: m ? m.managerAddrs() : (s?.managers ?? []),
      degraded: m?.degraded() ?? '',
      undoFailures: BigInt(undoFailures()),
      version: shoalVersion(),
    };
  }

  /**
   * Renews the node's certificate at a random point of 50-80% of its validity and follows the
   * role changes the managers make, learned from the agent's session messages (and, on a
   * manager, from its own store), with no CA call in between (see role-watch.ts).
   */
  private watchRole(): void {
    const s = this.state;
    if (!s || this.roleWatch?.nodeId === s.nodeId) return;
    void this.roleWatch?.stop();
    const nodeId = s.nodeId;
    this.roleWatch = new RoleWatch({
      nodeId,
      certPem: () => this.certs?.certPem ?? null,
      role: () => (this.state?.nodeId === nodeId ? this.state.role : undefined),
      active: () => this.phase === 'active' && this.state?.nodeId === nodeId && this.certs !== null,
      localNode: () => this.mgr?.manager.store.view((tx) => tx.nodes.get(nodeId)),
      renew: (reason) => this.checkRole(nodeId, reason),
      roleCheckMs: this.o.tuning?.roleCheckMs,
      logger: this.log.child({ node: nodeId }),
    });
    this.roleWatch.start();
  }

  /** One renewal (one CSR): the answer is a new certificate and the role the managers hold now. */
  private async checkRole(nodeId: string, reason: string): Promise<NodeRoleName> {
    const s = this.state;
    const certs = this.certs;
    if (!s || s.nodeId !== nodeId || !certs) throw new Error('this node left the cluster');
    // A removed (demoted) manager no longer hears the leader and its own store stops changing
    // (its own CA would answer from that stale store): ask the leader if known, then the
    // managers the agent's session announced, then the others, itself last.
    const leader = this.mgr?.manager.leaderApiAddr();
    const known = [...(leader ? [leader] : []), ...(this.agent?.managers ?? []), ...(this.mgr?.manager.managerAddrs() ?? []), ...(s.raftMembers ?? []).map(([, a]) => a), ...s.managers];
    const addrs = [...new Set([...known.filter((a) => a && a !== s.advertiseAddr), ...(s.role === 'manager' ? [s.advertiseAddr] : [])])];
    const answer = await renewCertificate(addrs, certs, s.nodeId, s.advertiseAddr).catch((err: unknown) => {
      // `node rm` of this node: nothing will accept it again; say so in `info` (the renewer idles)
      if ((err as { code?: number }).code === 7 && /was removed from the cluster/.test((err as Error).message)) this.fail(err);
      throw err; // otherwise the renewer retries with backoff
    });
    await this.serial(async () => {
      const now = this.state;
      if (!now || now.nodeId !== nodeId || this.certs !== certs) return; // left (or rejoined) meanwhile
      if (answer.role !== now.role) return this.changeRole(answer.role, answer.certs);
      await saveNodeCertificates(this.o.paths.certDir, answer.certs, this.keys.nodeKeyPassphrase());
      certs.replace(answer.certs);
      this.log.info({ node: nodeId, reason, serial: certificateInfo(answer.certs.certPem).serial }, 'certificate renewed');
    }).catch((err: unknown) => {
      if (answer.role !== s.role) this.fail(err);
      throw err;
    });
    return answer.role;
  }

  /** Becomes a manager (join the Raft group) or a worker (leave it), keeping the agent's tasks. */
  private async changeRole(role: 'worker' | 'manager', next: NodeCertificates): Promise<void> {
    const s = this.state;
    const certs = this.certs;
    if (!s || !certs || s.role === role) return;
    this.log.info({ node: s.nodeId, from: s.role, to: role }, 'role changed by the managers');
    await saveNodeCertificates(this.o.paths.certDir, next, role === 'manager' ? this.keys.nodeKeyPassphrase() : undefined);
    certs.replace(next); // the same object: every credential made from it follows
    const agent = this.agent;
    this.agent = undefined;
    await agent?.stop();
    if (role === 'manager') {
      const j = await joinRaft(s.managers[0] ?? s.advertiseAddr, certs, s.advertiseAddr);
      const members = new Map(j.members.map((m) => [m.raftId, m.addr]));
      await rm(this.o.paths.raftDir, { recursive: true, force: true });
      this.keys.stop();
      this.mgr = await this.startManager(j.raftId, members, true, undefined, undefined, undefined, membersByNode(j));
      await this.commit({ ...s, role: 'manager', raftId: j.raftId.toString(), managers: [...new Set([s.advertiseAddr, ...members.values()])] });
    } else {
      const managers = this.mgr ? this.mgr.manager.managerAddrs().filter((a) => a !== s.advertiseAddr) : s.managers;
      const mgr = this.mgr;
      this.mgr = undefined;
      if (mgr) {
        mgr.server.forceShutdown();
        await mgr.manager.stop();
      }
      await rm(this.o.paths.raftDir, { recursive: true, force: true });
      this.keys.stop();
      await this.commit({ ...s, role: 'worker', raftId: undefined, raftMembers: undefined, managers });
    }
    this.agent = await startAgent({ paths: this.o.paths, certs, managers: this.state!.managers, tuning: this.tuning, logger: this.o.logger, onSessionMessage: (m) => this.roleWatch?.sessionMessage(m) });
  }

  /** Stops serving; containers keep running and the next daemon re-adopts them. */
  async stop(): Promise<void> {
    const watch = this.roleWatch;
    this.roleWatch = undefined;
    await watch?.stop();
    await settled(this.queue); // an operation's failure went to its caller
    await this.stopParts();
  }

  private get tuning(): Tuning {
    return this.o.tuning ?? {};
  }

  private async startManager(
    raftId: bigint,
    members: Map<bigint, string>,
    join: boolean,
    listen = this.state!.listenAddr,
    advertise = this.state!.advertiseAddr,
    ids: { clusterId: string; nodeId: string } = this.state!,
    joinedWith?: ReadonlyMap<string, bigint>,
  ): Promise<ManagerParts> {
    const raftCipher = await this.keys.cipher();
    const parts = await startManagerParts({
      paths: this.o.paths,
      certs: this.certs!,
      nodeId: ids.nodeId,
      clusterId: ids.clusterId,
      raftId,
      advertiseAddr: advertise,
      listenAddr: listen,
      members,
      join,
      joinedWith,
      tuning: this.tuning,
      extra: this.o.extraServices,
      logger: this.o.logger,
      raftCipher,
    });
    await this.syncNodeKey();
    this.keys.start(parts.manager, () => this.serial(() => this.syncNodeKey()));
    return parts;
  }

  /** node.key is encrypted exactly while this manager is autolocked (see manager/keys). */
  private async syncNodeKey(): Promise<void> {
    const certs = this.certs;
    if (!certs) return;
    const pass = this.keys.nodeKeyPassphrase();
    if ((await nodeKeyIsEncrypted(this.o.paths.certDir)) === !!pass) return;
    await saveNodeCertificates(this.o.paths.certDir, certs, pass);
    this.log.info({ encrypted: !!pass }, 'node key re-saved to follow autolock');
  }

  private advertise(requested: string, listen: string): string {
    const port = portOf(listen);
    const given = requested || this.o.advertiseAddr;
    if (given) return given.includes(':') ? given : `${given}:${port}`;
    const host = hostOf(listen);
    return `${host === '0.0.0.0' || host === '' ? defaultAdvertiseHost() : host}:${port}`;
  }

  private async commit(s: NodeState): Promise<void> {
    if (this.mgr) s.raftMembers = [...this.mgr.manager.members()].map(([id, a]) => [id.toString(), a]);
    await saveNodeState(this.o.paths.stateFile, s);
    this.state = s;
  }

  private assertNoCluster(what: string): void {
    if (this.state) throw new DaemonStateError(`${what}: this node is already part of cluster ${this.state.clusterId} as node ${this.state.nodeId}; run \`shoal leave\` first`);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = settled(run); // the caller gets run's error; the next operation still runs
    return run;
  }

  private fail(err: unknown): void {
    this.phase = 'error';
    this.lastError = err instanceof Error ? err.message : String(err);
    this.log.error({ err: this.lastError }, 'node failed');
  }

  /** After a failed init/join: nothing half-made stays behind. */
  private async undo(): Promise<void> {
    await bestEffort(() => this.stopParts(), [], { what: 'stop the manager and agent of a failed init/join', log: this.log });
    await bestEffort(() => this.wipe(), ['ENOENT'], { what: 'wipe the state of a failed init/join', log: this.log });
    this.state = null;
    this.certs = null;
    this.phase = 'inactive';
  }

  private async stopParts(): Promise<void> {
    const agent = this.agent;
    const mgr = this.mgr;
    this.agent = undefined;
    this.mgr = undefined;
    this.keys.stop();
    await agent?.stop();
    if (mgr) {
      mgr.server.forceShutdown();
      await mgr.manager.stop();
    }
  }

  private async wipe(): Promise<void> {
    const p = this.o.paths;
    for (const d of [p.stateFile, p.certDir, p.raftDir, p.agentDir]) await rm(d, { recursive: true, force: true });
  }
}
