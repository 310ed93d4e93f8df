// A shoal cluster in the lab: one real `shoal daemon` process per lab host (spawned with tsx),
// driven through each host's local socket (SHOAL_RUN/shoal.sock is a file: reachable from the
// test process without entering the host's network namespace).
// Runner-free: the benchmarks import this outside vitest, which refuses to load there; what
// needs vitest (labSuite) lives in cluster.ts.
import type { ChildProcess } from 'node:child_process';
import { cpSync, createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import * as ctl from '../../proto/gen/control.js';
import { ControlClient } from '../../proto/gen/control.js';
import { NodeRole, Service, ServiceSpec, TaskState, type Task } from '../../proto/gen/types.js';
import { DaemonClient, InfoRequest, InitRequest, JoinRequest, LeaveRequest, type InfoResponse, type InitResponse, type JoinResponse } from '../../proto/gen/daemon.js';
import { ImageStore } from '../../agent/images/index.js';
import { Lab, type LabHost } from '../../deploy/lab/lab.js';
import { testImagePath } from '../helpers/images.js';

const REPO = resolve(import.meta.dirname, '../..');
const REQUESTS: Record<'init' | 'join' | 'leave' | 'info', { fromPartial(o: object): object }> = { init: InitRequest, join: JoinRequest, leave: LeaveRequest, info: InfoRequest };

export interface ClusterOptions {
  name: string; // lab name, shoale2e*
  subnet: string;
  hosts: number;
  heartbeatMs?: number;
  disconnectGraceMs?: number;
  /** Extra environment of some hosts' daemons (host name -> variables), e.g. fault injection. */
  daemonEnv?: Record<string, Record<string, string>>;
}

export class TestCluster {
  readonly procs = new Map<string, ChildProcess>();

  private constructor(
    readonly lab: Lab,
    private readonly o: ClusterOptions,
  ) {}

  static async up(o: ClusterOptions): Promise<TestCluster> {
    await Lab.down(o.name, { graceMs: 0 }).catch(() => undefined); // a lab left by a crashed run
    const lab = await Lab.up({ name: o.name, hosts: o.hosts, subnet: o.subnet });
    const c = new TestCluster(lab, o);
    try {
      for (const h of lab.hosts) await new ImageStore({ root: join(h.root, 'images') }).load(testImagePath('busybox'));
    } catch (err) {
      await c.down();
      throw err;
    }
    return c;
  }

  host(name: string): LabHost {
    return this.lab.host(name);
  }

  addr(name: string): string {
    return `${this.host(name).addr}:4243`;
  }

  socket(name: string): string {
    return join(this.host(name).run, 'shoal.sock');
  }

  /** Starts (or restarts) the daemon of a host; resolves once its local socket answers. */
  async start(name: string): Promise<void> {
    const h = this.host(name);
    const log = createWriteStream(join(h.root, '..', `daemon-${name}.log`), { flags: 'a' });
    const p = this.lab.spawn(h, [
      process.execPath, '--import', 'tsx', join(REPO, 'cli/main.ts'), 'daemon',
      '--listen-addr', this.addr(name), '--advertise-addr', this.addr(name),
      '--heartbeat-ms', String(this.o.heartbeatMs ?? 500),
      ...(this.o.disconnectGraceMs ? ['--disconnect-grace-ms', String(this.o.disconnectGraceMs)] : []),
    ], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: this.o.daemonEnv?.[name] });
    p.stderr!.pipe(log);
    this.procs.set(name, p);
    const end = Date.now() + 30_000;
    for (;;) {
      try {
        await this.info(name);
        return;
      } catch {
        if (p.exitCode !== null) throw new Error(`daemon of ${name} exited with ${p.exitCode}; see its log under ${h.root}/..`);
        if (Date.now() > end) throw new Error(`daemon of ${name} did not answer on its socket`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Sends a signal to a host's daemon and waits for it to exit. */
  async kill(name: string, signal: NodeJS.Signals): Promise<void> {
    const p = this.procs.get(name);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await gone;
    this.procs.delete(name);
  }

  call<Res>(name: string, method: 'init' | 'join' | 'leave' | 'info', req: object): Promise<Res> {
    const c = new DaemonClient(`unix:${this.socket(name)}`, credentials.createInsecure()) as unknown as Record<string, (r: object, cb: (e: ServiceError | null, r: Res) => void) => void> & { close(): void };
    // fromPartial: fields added to a request later get their defaults (a plain object fails to encode)
    const full = REQUESTS[method].fromPartial(req);
    return new Promise<Res>((res, rej) => c[method]!(full, (e, r) => (e ? rej(e) : res(r)))).finally(() => c.close());
  }

  info(name: string): Promise<InfoResponse> {
    return this.call<InfoResponse>(name, 'info', {});
  }

  init(name: string): Promise<InitResponse> {
    return this.call<InitResponse>(name, 'init', { advertiseAddr: this.addr(name), listenAddr: this.addr(name) });
  }

  join(name: string, token: string, via: string): Promise<JoinResponse> {
    return this.call<JoinResponse>(name, 'join', { token, remoteAddr: this.addr(via), advertiseAddr: this.addr(name), listenAddr: this.addr(name) });
  }

  /** join, retried as its error asks while the managers have no leader (an election after a
   * leadership transfer, as a manager whose components keep failing makes): nothing was written. */
  async joinRetrying(name: string, token: string, via: string): Promise<JoinResponse> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.join(name, token, via);
      } catch (e) {
        const noLeader = (e as ServiceError).code === status.FAILED_PRECONDITION && /no leader/.test((e as ServiceError).details ?? '');
        if (!noLeader || attempt >= 10) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** The host whose daemon leads, as the given hosts see it (all must agree). */
  async leader(among: string[], timeoutMs = 20_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const infos = await Promise.all(among.map((n) => this.info(n).catch(() => undefined)));
      const leaders = infos.filter((i) => i?.isLeader);
      const addrs = new Set(infos.map((i) => i?.leaderAddr));
      if (leaders.length === 1 && addrs.size === 1) return among[infos.indexOf(leaders[0])]!;
      if (Date.now() > end) throw new Error(`no agreed leader among ${among.join(',')}: ${JSON.stringify(infos.map((i) => i && { leader: i.isLeader, addr: i.leaderAddr }))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Calls a Control method through a host's local socket. */
  control<Res>(name: string, method: string, req: object, timeoutMs = 20_000): Promise<Res> {
    const c = new ControlClient(`unix:${this.socket(name)}`, credentials.createInsecure()) as unknown as Record<string, (r: object, md: unknown, o: object, cb: (e: ServiceError | null, r: Res) => void) => void> & { close(): void };
    const type = (ctl as unknown as Record<string, { fromPartial(o: object): object }>)[`${method[0]!.toUpperCase()}${method.slice(1)}Request`]!;
    const full = type.fromPartial(req);
    return new Promise<Res>((res, rej) => c[method]!(full, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (e, r) => (e ? rej(e) : res(r)))).finally(() => c.close());
  }

  async tasks(via: string, service: string): Promise<Task[]> {
    const r = await this.control<{ tasks: Task[] }>(via, 'listTasks', { serviceIds: [service] });
    return r.tasks;
  }

  /** Tasks of a service that should run and do; with their node's hostname. */
  async running(via: string, service: string): Promise<{ id: string; node: string }[]> {
    const [tasks, nodes] = await Promise.all([this.tasks(via, service), this.control<{ nodes: { id: string; description?: { hostname: string } }[] }>(via, 'listNodes', {})]);
    const host = new Map(nodes.nodes.map((n) => [n.id, n.description?.hostname ?? n.id]));
    return tasks
      .filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING)
      .map((t) => ({ id: t.id, node: host.get(t.nodeId) ?? t.nodeId }));
  }

  async createService(via: string, name: string, o: { replicas?: number; global?: boolean; constraints?: string[]; reserveMemory?: bigint; args?: string[] } = {}): Promise<Service> {
    const spec = ServiceSpec.fromPartial({
      annotations: { name },
      task: {
        container: { image: 'busybox:latest', args: o.args ?? ['sleep', '100000'] },
        placement: { constraints: o.constraints ?? [] },
        resources: o.reserveMemory ? { reservations: { memoryBytes: o.reserveMemory } } : undefined,
        restart: { condition: 0 },
      },
    });
    spec.mode = o.global ? { $case: 'global', value: {} } : { $case: 'replicated', value: { replicas: o.replicas ?? 1 } };
    return (await this.control<{ service: Service }>(via, 'createService', { spec })).service;
  }

  /** Updates a node's spec (read, change, write; again if it changed in between, as a CLI would). */
  async updateNodeSpec(via: string, host: string, change: (spec: object) => object): Promise<void> {
    await retryStale(async () => {
      const { node } = await this.control<{ node: { id: string; spec: object; meta?: { version: bigint } } }>(via, 'getNode', { nodeId: host });
      await this.control(via, 'updateNode', { nodeId: node.id, version: node.meta?.version ?? 0n, spec: change(node.spec) });
    });
  }

  async scale(via: string, name: string, replicas: number): Promise<void> {
    await retryStale(() => this.scaleOnce(via, name, replicas));
  }

  private async scaleOnce(via: string, name: string, replicas: number): Promise<void> {
    const { service } = await this.control<{ service: Service }>(via, 'getService', { serviceId: name });
    const spec = ServiceSpec.fromPartial(service.spec!);
    spec.mode = { $case: 'replicated', value: { replicas } };
    await this.control(via, 'updateService', { serviceId: service.id, version: service.meta?.version ?? 0n, spec });
  }

  /** Forms 3 managers (h1..h3) and workers (h4..): returns the init answer. */
  async form(managers = 3): Promise<{ workerToken: string; managerToken: string }> {
    for (const h of this.lab.hosts) await this.start(h.name);
    const init = await this.init('h1');
    for (const h of this.lab.hosts.slice(1)) {
      const idx = Number(h.name.slice(1));
      const r = await this.joinRetrying(h.name, idx <= managers ? init.managerToken : init.workerToken, 'h1');
      if ((r.role === NodeRole.MANAGER) !== idx <= managers) throw new Error(`${h.name} joined with the wrong role`);
    }
    let last: unknown;
    await until(async () => {
      const n = await this.control<{ nodes: { status?: { state: number } }[] }>('h1', 'listNodes', {}).catch((e: unknown) => {
        last = e;
        return { nodes: [] };
      });
      if (n.nodes.length) last = n.nodes.map((x) => x.status);
      return n.nodes.filter((x) => x.status?.state === 2).length === this.lab.hosts.length;
    }, 'every node ready', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${String((last as Error)?.message ?? JSON.stringify(last))}`);
    });
    return init;
  }

  async down(): Promise<void> {
    for (const name of [...this.procs.keys()]) await this.kill(name, 'SIGKILL');
    if (process.env.SHOAL_E2E_KEEP_LOGS) {
      // daemon logs live in the lab's data directory, which down() removes
      const keep = join(process.env.SHOAL_E2E_KEEP_LOGS, this.o.name);
      mkdirSync(keep, { recursive: true });
      for (const h of this.lab.hosts) cpSync(join(h.root, '..', `daemon-${h.name}.log`), join(keep, `daemon-${h.name}.log`), { force: true });
    }
    await this.lab.down({ graceMs: 0 });
  }
}

/** Runs a read-modify-write again while it fails on a version conflict. */
export async function retryStale<T>(fn: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !/changed since it was read|version/i.test((err as ServiceError).details ?? '')) throw err;
    }
  }
}

export async function until<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
