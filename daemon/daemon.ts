// The `shoal daemon` process: always an agent, also a manager on manager hosts. It owns the
// node's membership (init, join, leave), resumes from disk after a restart, and serves the local
// Daemon API. It is the only code that composes manager/ and agent/ (see README.md).
import { mkdir, rm } from 'node:fs/promises';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Agent, hostDescription } from '../agent/index.js';
import type { InfoResponse, InitRequest, InitResponse, JoinRequest, JoinResponse, LeaveRequest } from '../proto/gen/daemon.js';
import { NodeRole } from '../proto/gen/types.js';
import {
  bootstrapNode,
  createNodeKeyAndCSR,
  createRootCA,
  generateJoinTokens,
  loadNodeCertificates,
  newNodeId,
  saveNodeCertificates,
  signNodeCertificate,
  type NodeCertificates,
} from '../manager/ca/index.js';
import { withApiPort, type Manager } from '../manager/node/index.js';
import { defaultAdvertiseHost, hostOf, portOf } from './net.js';
import { DaemonStateError } from './errors.js';
import { joinRaft } from './raft-join.js';
import { newRaftId, startAgent, startManagerParts, type ManagerParts, type Tuning } from './node-runtime.js';
import type { ExtraService } from './cluster-api.js';
import type { DaemonPaths } from './paths.js';
import { renewCertificate } from './role-watch.js';
import { loadNodeState, saveNodeState, type NodeState } from './state.js';
import { writeClusterObjects } from './cluster-objects.js';
import { localControl } from './control.js';

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
  private certs: NodeCertificates | null = null;
  private mgr: ManagerParts | undefined;
  private agent: Agent | undefined;
  private phase: 'inactive' | 'pending' | 'active' | 'error' = 'inactive';
  private lastError = '';
  private queue: Promise<unknown> = Promise.resolve();
  private roleTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly log: Logger;

  constructor(private readonly o: DaemonOptions) {
    this.log = o.logger.child({ component: 'daemon' });
  }

  get paths(): DaemonPaths {
    return this.o.paths;
  }

  get manager(): Manager | undefined {
    return this.mgr?.manager;
  }

  /** The Control service for the local socket (this manager's, or a refusal on workers). */
  localControlService(): ExtraService {
    return localControl(() => this.mgr?.control, () => this.state?.role ?? null);
  }

  get nodeState(): NodeState | null {
    return this.state;
  }

  /** Resumes as the node recorded on disk, if any (after a restart, a reboot or a SIGKILL). */
  async resume(): Promise<void> {
    await mkdir(this.o.paths.root, { recursive: true, mode: 0o700 });
    await mkdir(this.o.paths.run, { recursive: true, mode: 0o700 });
    const state = await loadNodeState(this.o.paths.stateFile);
    if (!state) return;
    const certs = await loadNodeCertificates(this.o.paths.certDir);
    if (!certs) throw new DaemonStateError(`${this.o.paths.stateFile} names a cluster but ${this.o.paths.certDir} holds no certificates: run \`shoal leave --force\` and join again`);
    this.state = state;
    this.certs = certs;
    this.phase = 'pending';
    try {
      if (state.role === 'manager') {
        const members = new Map((state.raftMembers ?? []).map(([id, a]) => [BigInt(id), a]));
        this.mgr = await this.startManager(BigInt(state.raftId ?? '0'), members, false);
      }
      this.agent = await startAgent({ paths: this.o.paths, certs, managers: state.managers, tuning: this.tuning, logger: this.o.logger });
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
        const certPem = await signNodeCertificate({ csrPem, nodeId, role: 'manager', clusterId, ca, addresses: [hostOf(advertise)] });
        const certs = { keyPem, certPem, rootPem: ca.certPem };
        await saveNodeCertificates(this.o.paths.certDir, certs);
        this.certs = certs;
        this.mgr = await this.startManager(raftId, new Map([[raftId, advertise]]), false, listen, advertise, { clusterId, nodeId });
        await writeClusterObjects(this.mgr.manager, { clusterId, nodeId, raftId, advertise, ca, tokens, heartbeatMs: this.o.tuning?.heartbeatMs });
        await this.commit({ clusterId, nodeId, role: 'manager', raftId: raftId.toString(), advertiseAddr: advertise, listenAddr: listen, managers: [advertise] });
        this.agent = await startAgent({ paths: this.o.paths, certs, managers: [advertise], tuning: this.tuning, logger: this.o.logger });
        this.phase = 'active';
        this.watchRole();
        this.log.info({ node: nodeId, cluster: clusterId, addr: advertise }, 'initialised a new cluster');
        return { nodeId, clusterId, workerToken: tokens.worker, managerToken: tokens.manager, addr: advertise };
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
          this.mgr = await this.startManager(j.raftId, members, true, listen, advertise, { clusterId: b.clusterId, nodeId: b.nodeId });
          await this.commit({ ...base, role: 'manager', raftId: j.raftId.toString(), managers: [...new Set([advertise, ...members.values()])] });
        } else {
          await this.commit({ ...base, role: 'worker', managers: [remote] });
        }
        this.agent = await startAgent({ paths: this.o.paths, certs: b.certs, managers: this.state!.managers, tuning: this.tuning, logger: this.o.logger });
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

  leave(req: LeaveRequest): Promise<void> {
    return this.serial(async () => {
      const s = this.state;
      if (!s) throw new DaemonStateError('this node is not part of a cluster');
      if (s.role === 'manager' && !req.force) {
        throw new DaemonStateError('this node is a manager: demote it first (`shoal node demote NODE` on a manager), or use `shoal leave --force` (this can cost the cluster its quorum)');
      }
      await this.stopParts();
      await this.wipe();
      this.state = null;
      this.certs = null;
      this.phase = 'inactive';
      this.log.info({ node: s.nodeId }, 'left the cluster');
    });
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
      error: this.lastError,
      managers: m ? m.managerAddrs() : (s?.managers ?? []),
    };
  }

  /** Polls the managers for this node's role and follows a promotion or demotion. */
  private watchRole(): void {
    if (this.roleTimer) return;
    const period = this.o.tuning?.roleCheckMs ?? 3_000;
    this.roleTimer = setInterval(() => {
      if (this.checking || this.phase !== 'active' || !this.state || !this.certs) return;
      this.checking = true;
      void this.checkRole().finally(() => {
        this.checking = false;
      });
    }, period);
    this.roleTimer.unref();
  }

  private async checkRole(): Promise<void> {
    const s = this.state!;
    // A removed (demoted) manager no longer hears the leader and its own store stops changing:
    // ask the leader if known, then the other managers, itself last.
    const others = [...(s.raftMembers ?? []).map(([, a]) => a), ...s.managers].filter((a) => a && a !== s.advertiseAddr);
    const leader = this.mgr?.manager.leaderApiAddr();
    const addrs = s.role === 'manager' ? [...new Set([...(leader ? [leader] : []), ...others, s.advertiseAddr])] : s.managers;
    let answer;
    try {
      answer = await renewCertificate(addrs, this.certs!, s.nodeId, s.advertiseAddr);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'role check: no manager answered');
      return;
    }
    if (answer.role === s.role) return;
    await this.serial(() => this.changeRole(answer.role, answer.certs)).catch((err: unknown) => this.fail(err));
  }

  /** Becomes a manager (join the Raft group) or a worker (leave it), keeping the agent's tasks. */
  private async changeRole(role: 'worker' | 'manager', certs: NodeCertificates): Promise<void> {
    const s = this.state;
    if (!s || s.role === role) return;
    this.log.info({ node: s.nodeId, from: s.role, to: role }, 'role changed by the managers');
    await saveNodeCertificates(this.o.paths.certDir, certs);
    this.certs = certs;
    const agent = this.agent;
    this.agent = undefined;
    await agent?.stop();
    if (role === 'manager') {
      const j = await joinRaft(s.managers[0] ?? s.advertiseAddr, certs, s.advertiseAddr);
      const members = new Map(j.members.map((m) => [m.raftId, m.addr]));
      await rm(this.o.paths.raftDir, { recursive: true, force: true });
      this.mgr = await this.startManager(j.raftId, members, true);
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
      await this.commit({ ...s, role: 'worker', raftId: undefined, raftMembers: undefined, managers });
    }
    this.agent = await startAgent({ paths: this.o.paths, certs, managers: this.state!.managers, tuning: this.tuning, logger: this.o.logger });
  }

  /** Stops serving; containers keep running and the next daemon re-adopts them. */
  async stop(): Promise<void> {
    clearInterval(this.roleTimer);
    this.roleTimer = undefined;
    await this.queue.catch(() => undefined);
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
  ): Promise<ManagerParts> {
    return startManagerParts({
      paths: this.o.paths,
      certs: this.certs!,
      nodeId: ids.nodeId,
      clusterId: ids.clusterId,
      raftId,
      advertiseAddr: advertise,
      listenAddr: listen,
      members,
      join,
      tuning: this.tuning,
      extra: this.o.extraServices,
      logger: this.o.logger,
    });
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
    this.queue = run.catch(() => undefined);
    return run;
  }

  private fail(err: unknown): void {
    this.phase = 'error';
    this.lastError = err instanceof Error ? err.message : String(err);
    this.log.error({ err: this.lastError }, 'node failed');
  }

  /** After a failed init/join: nothing half-made stays behind. */
  private async undo(): Promise<void> {
    await this.stopParts().catch(() => undefined);
    await this.wipe().catch(() => undefined);
    this.state = null;
    this.certs = null;
    this.phase = 'inactive';
  }

  private async stopParts(): Promise<void> {
    const agent = this.agent;
    const mgr = this.mgr;
    this.agent = undefined;
    this.mgr = undefined;
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
