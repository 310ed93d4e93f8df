// ContainerRuntime: the lifecycle of containers on this host (create, start, wait, stop, kill,
// remove, exec, stats, logs, adopt). Each container is supervised by its own shoal-shim
// process, so this object keeps no state of its own: everything is re-read from the state
// directory, and a new process (a restarted agent, another CLI call) sees the same containers.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { ensurePrivateDir, PRIVATE_DIR_MODE, SECRET_FILE_MODE } from '../../proto/file-modes.js';
import { bestEffort, hasCode, settled } from '../../proto/undo.js';
import { detectCgroups, type Cgroup, type CgroupManager, type CgroupStats } from './cgroups/index.js';
import { cgroupMountsFor } from './cgroup-view.js';
import { writeEtcFiles } from './etc-files.js';
import { createDeviceCgroup, devicesMount, removeDeviceCgroup } from './devices.js';
import { Limiter } from './limiter.js';
import { MountPointLayer } from './mount-points.js';
import { ContainerSpecError, ContainerStartError, ContainerStateError } from './errors.js';
import { readLogs } from './logs.js';
import { NameRegistry } from './names.js';
import { appendExecOptions, encodeOptions } from './options.js';
import { encodeRunConfig, execShim, runShim, writeExecConfig } from './shim.js';
import { describe, files, readRecord, shimAlive, type ContainerRecord } from './state.js';
import { resolveUser } from './user.js';
import { validateSpec } from './validate.js';
import { waitForExit } from './wait.js';
import type { ContainerInfo, ContainerSpec, ExecResult, ExecSpec, ExitStatus, LogEntry } from './types.js';

export interface RuntimeOptions {
  /** One directory per container lives here (default $SHOAL_RUN/containers, /run/shoal/containers). */
  stateDir?: string;
  /** Containers' cgroups are `<cgroupParent>/<id>` (default "shoal"). */
  cgroupParent?: string;
  cgroups?: CgroupManager;
  logger?: Logger;
  /** How device access is limited: 'auto' (default) uses the v1 devices controller when the
   * host mounts it, else a BPF program on the cgroup2 directory; 'bpf' always the latter. */
  deviceControl?: 'auto' | 'bpf';
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class ContainerRuntime {
  readonly stateDir: string;
  private readonly cgroupParent: string;
  private readonly cgroups: CgroupManager;
  private readonly log: Logger;
  private readonly names: NameRegistry;
  private readonly devices: string | null;
  private readonly mountPoints: MountPointLayer;
  /** The file work of create() and start() (see limiter.ts); the supervisors run in parallel. */
  private readonly launch = new Limiter(3);

  constructor(opts: RuntimeOptions = {}) {
    this.stateDir = resolve(opts.stateDir ?? join(process.env.SHOAL_RUN || '/run/shoal', 'containers'));
    this.cgroupParent = opts.cgroupParent ?? 'shoal';
    this.log = (opts.logger ?? pino({ level: process.env.SHOAL_LOG_LEVEL ?? 'info' })).child({ component: 'runtime' });
    this.cgroups = opts.cgroups ?? detectCgroups({ logger: this.log });
    this.names = new NameRegistry(this.stateDir);
    this.devices = opts.deviceControl === 'bpf' ? null : devicesMount();
    this.mountPoints = new MountPointLayer(this.stateDir);
  }

  private dir(id: string): string {
    return join(this.stateDir, id);
  }

  private rootfsDir: string | undefined;
  /**
   * Where the shim mounts a container's overlay before pivoting into it: one empty directory
   * shared by every container, since the mount happens in the container's own (private) mount
   * namespace; a directory per container was one more to create and remove on the host's disk.
   */
  private rootfsMountPoint(): string {
    const d = join(this.stateDir, '.rootfs');
    // made again if something removed it meanwhile (a stat: cheap next to a start)
    if (this.rootfsDir !== d || !existsSync(d)) {
      mkdirSync(d, { recursive: true, mode: PRIVATE_DIR_MODE });
      this.rootfsDir = d;
    }
    return d;
  }

  /** `signal`: a create still waiting for its turn is given up when it aborts (nothing is made). */
  async create(spec: ContainerSpec, opts: { signal?: AbortSignal } = {}): Promise<ContainerInfo> {
    validateSpec(spec);
    return this.launch.run(() => {
      opts.signal?.throwIfAborted();
      return this.createNow(spec);
    });
  }

  private async createNow(spec: ContainerSpec): Promise<ContainerInfo> {
    const id = randomBytes(32).toString('hex');
    const name = spec.name ?? id.slice(0, 12);
    const dir = this.dir(id);
    const undo: (() => Promise<unknown>)[] = [];
    // started first: a v2 parent may need its controllers enabled, which waits in the kernel
    const cgroupName = `${this.cgroupParent}/${id}`;
    const cgCreated = this.cgroups.create(cgroupName, spec.limits ?? {});
    void settled(cgCreated); // awaited below; this only keeps it from being unhandled meanwhile
    // a create that failed rolled itself back (cgroup.ts): then there is nothing to remove
    undo.push(async () => (await cgCreated.then((cg) => cg, () => undefined))?.remove());
    try {
      // containers' records (their env), writable layers and rootfs: root's alone (proto/file-modes.ts)
      ensurePrivateDir(this.stateDir);
      // Files go through the thread pool, as many at once as can be: each creation waits for the
      // disk's journal (see state.ts), and a start is as slow as its longest chain of them.
      const dirMade = mkdir(dir, { mode: PRIVATE_DIR_MODE });
      void settled(dirMade); // awaited below; this only keeps it from being unhandled meanwhile
      undo.push(async () => {
        await settled(dirMade); // removed whether or not the mkdir got as far as making it
        rmSync(dir, { recursive: true, force: true });
      });
      await this.names.reserve(name, id, (other) => existsSync(this.dir(other)));
      undo.push(() => this.names.release(name, id));
      await dirMade;
      const rec: ContainerRecord = { id, name, createdAt: new Date().toISOString(), cgroup: cgroupName, spec };
      if (this.devices) {
        rec.devicesCgroup = await createDeviceCgroup(this.devices, cgroupName);
        undo.push(() => removeDeviceCgroup(rec.devicesCgroup!));
      }
      await cgCreated;
      // the overlay's directories and the record together; the record is renamed into place last
      const recordPath = join(dir, files.record);
      await Promise.all([mkdir(join(dir, files.upper)), mkdir(join(dir, files.work)), writeFile(`${recordPath}.tmp`, JSON.stringify(rec, null, 2) + '\n', { mode: SECRET_FILE_MODE })]);
      await rename(`${recordPath}.tmp`, recordPath);
      this.log.info({ container: id, name }, 'container created');
      return await describe(dir, rec);
    } catch (err) {
      for (const [i, u] of undo.reverse().entries()) await bestEffort(u, GONE, { what: `undo step ${undo.length - i} of creating container ${name}`, log: this.log, ids: { container: id } });
      throw err;
    }
  }

  async start(ref: string): Promise<ContainerInfo> {
    const { dir, rec, config } = await this.launch.run(() => this.startConfig(ref), { urgent: true });
    this.log.debug({ container: rec.id }, 'container config ready: spawning its supervisor');
    const outcome = await runShim(config, dir);
    if (!outcome.ok) {
      for (const f of [files.shimPid, files.initPid]) unlinkQuiet(join(dir, f));
      this.log.warn({ container: rec.id, reason: outcome.reason }, 'container failed to start');
      throw new ContainerStartError(rec.name, outcome.reason);
    }
    // the supervisor recorded the pid, its start time and when in init.pid (see readRecord)
    const started = (await readRecord(dir)) ?? rec;
    this.log.info({ container: rec.id, pid: outcome.pid }, 'container started');
    return describe(dir, started);
  }

  /** Everything a start needs before the supervisor: checks, the etc files, the shim's config. */
  private async startConfig(ref: string): Promise<{ dir: string; rec: ContainerRecord; config: Buffer }> {
    const { dir, rec } = await this.record(ref);
    this.log.debug({ container: rec.id }, 'container start: files');
    const info = await describe(dir, rec);
    if (info.state !== 'created') throw new ContainerStateError(`container ${rec.name} is ${info.state}: only a created container can start (create a new one)`);
    const spec = rec.spec;
    const creds = await resolveUser(spec.user, spec.rootfs.layers, spec.groups);
    const cg = await this.cgroup(rec);
    const net = spec.network ?? 'none';
    const hostname = spec.hostname ?? rec.id.slice(0, 12);
    // ours first: a user's bind mount on the same path then lands on top
    const mounts = [...(await writeEtcFiles(dir, spec, hostname)), ...(spec.mounts ?? [])];
    const config = encodeRunConfig({
      id: rec.id,
      dir,
      rootfs: this.rootfsMountPoint(),
      upper: join(dir, files.upper),
      work: join(dir, files.work),
      layers: this.mountPoints.layersFor(spec.rootfs.layers),
      readOnly: spec.readOnly ?? false,
      hostname,
      net: typeof net === 'object' ? net.path : net,
      oomFile: oomFile(cg),
      // without a v1 devices cgroup, the shim attaches a device filter to the cgroup2 directory
      devBpf: rec.devicesCgroup ? null : this.bpfDeviceDir(cg),
      mounts,
      cgroupMounts: cgroupMountsFor(cgroupPaths(cg, rec)),
      logMaxBytes: spec.log?.maxBytes ?? 10 * 1024 * 1024,
      logMaxFiles: spec.log?.maxFiles ?? 3,
      args: spec.args,
      env: this.containerEnv(rec),
      cwd: spec.cwd ?? '/',
      creds,
      procs: procsFiles(cg, rec),
    });
    // capabilities, sysctls, ulimits and init (options.ts) follow the run config's own entries
    return { dir, rec, config: Buffer.concat([config, encodeOptions(spec, 'run')]) };
  }

  /** create + start; a container that fails to start is removed again. */
  async run(spec: ContainerSpec): Promise<ContainerInfo> {
    const info = await this.create(spec);
    try {
      return await this.start(info.id);
    } catch (err) {
      await bestEffort(this.remove(info.id, { force: true }), GONE, { what: 'remove a container that failed to start', log: this.log, ids: { container: info.id } });
      throw err;
    }
  }

  async wait(ref: string, signal?: AbortSignal): Promise<ExitStatus> {
    const { dir } = await this.record(ref);
    return waitForExit(dir, signal);
  }

  async kill(ref: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const { rec, info } = await this.running(ref);
    try {
      process.kill(info.pid!, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    this.log.info({ container: rec.id, signal }, 'container signalled');
  }

  /** Sends `signal`, waits up to graceMs, then SIGKILLs every process in the cgroup. */
  async stop(ref: string, opts: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<ExitStatus | null> {
    const { dir, rec } = await this.record(ref);
    const info = await describe(dir, rec);
    if (info.state !== 'running') return info.exit;
    const ac = new AbortController();
    const exited = waitForExit(dir, ac.signal);
    void settled(exited); // raced below; aborted when the grace period runs out
    try {
      process.kill(info.pid!, opts.signal ?? rec.spec.stopSignal ?? 'SIGTERM');
    } catch (err) {
      if (!hasCode(err, ['ESRCH'])) throw err; // ESRCH: already gone, the wait below returns at once
    }
    const graceMs = opts.graceMs ?? 10_000;
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs, true)]);
    if (timedOut) {
      this.log.info({ container: rec.id, graceMs }, 'grace period over: killing every process of the container');
      const cg = this.cgroups.open(rec.cgroup);
      if (cg) await cg.killAll('SIGKILL');
      else process.kill(info.pid!, 'SIGKILL');
    }
    return exited;
  }

  /** Removes the container and everything it owns: state files, rw layer, cgroup, name. */
  async remove(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    const { dir, rec } = await this.record(ref);
    const info = await describe(dir, rec);
    if (info.state === 'running') {
      if (!opts.force) throw new ContainerStateError(`container ${rec.name} is running: stop it first or remove it with --force`);
      await this.stop(rec.id, { signal: 'SIGKILL', graceMs: 5_000 });
    }
    // exit.json is the supervisor's last write; without it, let a live one finish first
    for (let i = 0; i < 1000 && !existsSync(join(dir, files.exit)) && (await shimAlive(dir)); i++) await sleep(2);
    await this.cgroups.open(rec.cgroup)?.remove();
    if (rec.devicesCgroup) await removeDeviceCgroup(rec.devicesCgroup);
    // off the event loop: a dozen unlinks that each wait on the disk's journal when it is busy,
    // which for many removals at once (a service removed) blocked everything else in the agent
    await rm(dir, { recursive: true, force: true });
    await this.names.release(rec.name, rec.id);
    this.log.info({ container: rec.id }, 'container removed');
  }

  async exec(ref: string, spec: ExecSpec): Promise<ExecResult> {
    const { dir, rec, info } = await this.running(ref);
    if (!spec.args.length || !spec.args[0]) throw new ContainerSpecError('exec needs a command');
    for (const e of spec.env ?? []) if (!/^[^=]+=/.test(e)) throw new ContainerSpecError(`env entry ${JSON.stringify(e)} must look like KEY=VALUE`);
    const creds = await resolveUser(spec.user ?? rec.spec.user, rec.spec.rootfs.layers, rec.spec.groups);
    const env = mergeEnv(this.containerEnv(rec), spec.env ?? []);
    const cg = await this.cgroup(rec);
    const configPath = join(dir, `exec-${randomBytes(6).toString('hex')}.conf`);
    await writeExecConfig(configPath, info.pid!, { args: spec.args, env, cwd: spec.cwd ?? rec.spec.cwd ?? '/', creds, procs: procsFiles(cg, rec) });
    await appendExecOptions(configPath, rec.spec);
    try {
      const out = await execShim(configPath, spec.stdio ?? 'pipe');
      if (out.error !== null) throw new ContainerStartError(rec.name, `exec ${spec.args[0]}: ${out.error}`);
      return { code: out.code, stdout: out.stdout, stderr: out.stderr };
    } finally {
      unlinkQuiet(configPath);
    }
  }

  async stats(ref: string): Promise<CgroupStats> {
    const { rec } = await this.record(ref);
    const cg = this.cgroups.open(rec.cgroup);
    if (!cg) throw new ContainerStateError(`container ${rec.name} has no cgroup (it was removed)`);
    return cg.stats();
  }

  async inspect(ref: string): Promise<ContainerInfo> {
    const { dir, rec } = await this.record(ref);
    return describe(dir, rec);
  }

  async list(): Promise<ContainerInfo[]> {
    let entries: string[];
    try {
      entries = await readdir(this.stateDir);
    } catch (err) {
      if (hasCode(err, GONE)) return []; // no container made yet
      throw err;
    }
    const out: ContainerInfo[] = [];
    for (const id of entries.filter((e) => /^[0-9a-f]{64}$/.test(e))) {
      const rec = await readRecord(this.dir(id));
      if (rec) out.push(await describe(this.dir(id), rec));
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Image ids that containers (in any state) were made from: pass to ImageStore's `imagesInUse`. */
  async imagesInUse(): Promise<string[]> {
    return [...new Set((await this.list()).flatMap((c) => (c.spec.image ? [c.spec.image.id] : [])))];
  }

  /** Finds the containers that kept running while no runtime watched them (agent restart). */
  async adopt(): Promise<ContainerInfo[]> {
    await this.sweepUnfinished();
    const running = (await this.list()).filter((c) => c.state === 'running');
    for (const c of running) this.log.info({ container: c.id, pid: c.pid }, 'adopted running container');
    return running;
  }

  /** A create() cut short by a crash leaves a directory without container.json: remove those
   * (old enough not to be a create() still under way in another process) and their cgroups. */
  private async sweepUnfinished(): Promise<void> {
    for (const id of (await readdir(this.stateDir).catch(() => [] as string[])).filter((e) => /^[0-9a-f]{64}$/.test(e))) {
      const dir = this.dir(id);
      if (existsSync(join(dir, files.record))) continue;
      const age = Date.now() - (statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age < 60_000) continue;
      const name = `${this.cgroupParent}/${id}`;
      const ctx = { log: this.log, ids: { container: id } };
      await bestEffort(async () => this.cgroups.open(name)?.remove(), GONE, { ...ctx, what: `remove cgroup ${name} of an interrupted create` });
      if (this.devices) await bestEffort(removeDeviceCgroup(join(this.devices, name)), GONE, { ...ctx, what: `remove devices cgroup ${name} of an interrupted create` });
      rmSync(dir, { recursive: true, force: true });
      this.log.warn({ container: id }, 'removed a container whose creation was interrupted');
    }
  }

  logs(ref: string, opts: { follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogEntry> {
    const self = this;
    return (async function* () {
      const { dir, rec } = await self.record(ref);
      const finished = async (): Promise<boolean> => (await describe(dir, rec)).state !== 'running';
      yield* readLogs(dir, rec.spec.log?.maxFiles ?? 3, { ...opts, finished });
    })();
  }

  private async record(ref: string): Promise<{ dir: string; rec: ContainerRecord }> {
    const id = await this.names.resolve(ref);
    const dir = this.dir(id);
    const rec = await readRecord(dir);
    if (!rec) throw new ContainerStateError(`container ${ref} has no readable state in ${dir}`);
    return { dir, rec };
  }

  private async running(ref: string): Promise<{ dir: string; rec: ContainerRecord; info: ContainerInfo }> {
    const { dir, rec } = await this.record(ref);
    const info = await describe(dir, rec);
    if (info.state !== 'running' || info.pid === null) throw new ContainerStateError(`container ${rec.name} is not running (${info.state})`);
    return { dir, rec, info };
  }

  private async cgroup(rec: ContainerRecord): Promise<Cgroup> {
    return this.cgroups.open(rec.cgroup) ?? (await this.cgroups.create(rec.cgroup, rec.spec.limits ?? {}));
  }

  private warnedNoDeviceControl = false;
  private bpfDeviceDir(cg: Cgroup): string | null {
    const dir = cg.paths.find((p) => existsSync(join(p, 'cgroup.controllers'))) ?? null;
    if (!dir && !this.warnedNoDeviceControl) {
      this.warnedNoDeviceControl = true;
      this.log.warn('neither a v1 devices controller nor a cgroup2 directory: device access inside containers is not restricted');
    }
    return dir;
  }

  private containerEnv(rec: ContainerRecord): string[] {
    const base = [DEFAULT_PATH, `HOSTNAME=${rec.spec.hostname ?? rec.id.slice(0, 12)}`];
    return mergeEnv(base, rec.spec.env ?? []);
  }
}

/** What a removal may find: the object already gone. */
const GONE = ['ENOENT'];

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!hasCode(err, GONE)) throw err;
  }
}

/** Later entries override earlier ones with the same key. */
function mergeEnv(base: string[], extra: string[]): string[] {
  const m = new Map<string, string>();
  for (const e of [...base, ...extra]) m.set(e.slice(0, e.indexOf('=')), e);
  return [...m.values()];
}

function cgroupPaths(cg: Cgroup, rec: ContainerRecord): string[] {
  return rec.devicesCgroup ? [...cg.paths, rec.devicesCgroup] : cg.paths;
}

function procsFiles(cg: Cgroup, rec: ContainerRecord): string[] {
  return cgroupPaths(cg, rec).map((p) => join(p, 'cgroup.procs'));
}

/** The file whose "oom_kill N" line counts OOM kills in this cgroup (v1 or v2). */
function oomFile(cg: Cgroup): string | null {
  for (const p of cg.paths) if (existsSync(join(p, 'memory.oom_control'))) return join(p, 'memory.oom_control');
  for (const p of cg.paths) if (existsSync(join(p, 'memory.events'))) return join(p, 'memory.events');
  return null;
}
