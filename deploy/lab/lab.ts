// A lab: N simulated hosts on one machine. Each host is a network namespace with its own
// address on a bridge that lives in a "switch" namespace of its own (never the root one, where
// Docker's FORWARD DROP may eat bridged traffic), a UTS namespace with its own hostname, and its
// own SHOAL_ROOT / SHOAL_RUN directories. Commands enter a host with nsenter --net --uts only, so
// they keep the machine's mounts and see the cgroup trees.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { describeModeFix, ensurePrivateDir } from '../../proto/file-modes.js';
import {
  DEFAULT_LAB,
  DEFAULT_SUBNET,
  checkHostCount,
  checkLabName,
  hostAddress,
  hostName,
  netnsName,
  parseSubnet,
  switchAddress,
} from './config.js';
import { build } from './build.js';
import { LabNotFoundError, LabUpError } from './errors.js';
import { exists, ipBatch, mustRun, netnsPath } from './kernel.js';
import { labLogger } from './log.js';
import {
  createState,
  defaultDirs,
  labStateDir,
  listLabNames,
  readState,
  removeState,
  saveState,
  type HostRecord,
  type LabDirs,
  type LabState,
} from './state.js';
import { teardown, type TeardownReport } from './teardown.js';

export type { LabDirs } from './state.js';
export type { TeardownReport } from './teardown.js';

export interface LabHost {
  /** h1 .. hN; also the host's hostname. */
  readonly name: string;
  /** The host's address on the lab's underlay. */
  readonly addr: string;
  /** Name of its network namespace (`ip -n <netns> ...` works). */
  readonly netns: string;
  /** Path of the network namespace file, for nsenter --net= or setns. */
  readonly netnsPath: string;
  /** Path of the UTS namespace file, for nsenter --uts=. */
  readonly utsPath: string;
  /** SHOAL_ROOT and SHOAL_RUN of this host. */
  readonly root: string;
  readonly run: string;
  /** SHOAL_CGROUP_PARENT: the host's containers get cgroups `<parent>/<id>`, removed by down. */
  readonly cgroupParent: string;
}

export interface LabUpOptions extends Partial<LabDirs> {
  name?: string;
  hosts: number | string;
  subnet?: string;
  logger?: Logger;
  /** Aborting stops `up` between steps and rolls back what it made (the CLI wires SIGINT here). */
  signal?: AbortSignal;
}

export interface LabOpenOptions extends Partial<LabDirs> {
  logger?: Logger;
}

export interface LabSummary {
  name: string;
  subnet: string;
  /** degraded: up, but some host's namespace is gone; `down` and `up` again to repair. */
  status: LabState['status'] | 'degraded';
  createdAt: string;
  hosts: { name: string; addr: string }[];
}

export interface ExecOptions {
  /** Extra environment on top of the caller's and the host's SHOAL_* variables. */
  env?: Record<string, string>;
  input?: string;
  cwd?: string;
  /** SIGKILL the command after this long (default: no limit). */
  timeoutMs?: number;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export type LabSpawnOptions = Omit<SpawnOptions, 'env' | 'argv0'> & { env?: Record<string, string> };

export class Lab {
  readonly name: string;
  readonly subnet: string;
  readonly switchNetns: string;
  readonly switchAddr: string;
  readonly hosts: readonly LabHost[];

  private constructor(
    private readonly dirs: LabDirs,
    state: LabState,
    private readonly log: Logger,
  ) {
    this.name = state.name;
    this.subnet = state.subnet;
    this.switchNetns = state.switchNetns;
    this.switchAddr = state.switchAddr;
    this.hosts = state.hosts.map((h) => Object.freeze({ ...h, netnsPath: netnsPath(h.netns), utsPath: h.uts }));
  }

  /** Makes a lab; on any failure removes what it made and throws one LabUpError. */
  static async up(opts: LabUpOptions): Promise<Lab> {
    const dirs = { ...defaultDirs(), ...pickDirs(opts) };
    const log = opts.logger ?? labLogger();
    const name = checkLabName(opts.name ?? DEFAULT_LAB);
    const subnet = parseSubnet(opts.subnet ?? DEFAULT_SUBNET);
    const count = checkHostCount(opts.hosts, subnet);
    const dataRoot = join(dirs.dataDir, name);
    const utsDir = join(labStateDir(dirs, name), 'uts');
    const state: LabState = {
      version: 1,
      name,
      subnet: subnet.cidr,
      switchNetns: netnsName(name, 'sw'),
      switchAddr: switchAddress(subnet),
      status: 'creating',
      createdAt: new Date().toISOString(),
      hosts: Array.from({ length: count }, (_, i): HostRecord => {
        const host = hostName(i + 1);
        return {
          name: host,
          addr: hostAddress(subnet, i + 1),
          netns: netnsName(name, host),
          uts: join(utsDir, host),
          cgroupParent: netnsName(name, host),
          root: join(dataRoot, host, 'root'),
          run: join(dataRoot, host, 'run'),
        };
      }),
      objects: [],
    };
    // the labs' roots hold every host's state: root's alone, corrected if an older lab left them open
    for (const d of [dirs.stateDir, dirs.dataDir]) ensurePrivateDir(d, (fix) => log.warn({ lab: name, path: fix.path }, describeModeFix(fix)));
    await createState(dirs, state); // throws LabExistsError: nothing of the running lab is touched
    try {
      await build(dirs, state, dataRoot, utsDir, subnet.prefix, opts.signal);
    } catch (err) {
      const cause = err instanceof Error ? err : new Error(String(err));
      log.info({ lab: name, err: cause.message }, 'lab up failed; removing what was made');
      const report = await teardown(state, log, 0).catch(
        (e: unknown): TeardownReport => ({ killed: 0, removed: 0, residue: [String(e)] }),
      );
      if (report.residue.length === 0) await removeState(dirs, name);
      else await saveState(dirs, { ...state, status: 'broken' });
      throw new LabUpError(name, cause, report.residue, report.removed);
    }
    state.status = 'up';
    await saveState(dirs, state);
    log.info({ lab: name, hosts: count, subnet: subnet.cidr }, 'lab up');
    return new Lab(dirs, state, log);
  }

  /** The lab of that name as its state file records it; LabNotFoundError if there is none. */
  static async open(name: string = DEFAULT_LAB, opts: LabOpenOptions = {}): Promise<Lab> {
    const dirs = { ...defaultDirs(), ...pickDirs(opts) };
    const state = await readState(dirs, checkLabName(name));
    if (!state) {
      throw new LabNotFoundError(`no lab named ${name} is up; start one with \`shoal lab up --name ${name} --hosts 2\``);
    }
    if (state.status !== 'up') {
      throw new LabNotFoundError(
        `lab ${name} is not usable (${state.status}: its up failed or is still running); ` +
          `remove it with \`shoal lab down --name ${name}\``,
      );
    }
    return new Lab(dirs, state, opts.logger ?? labLogger());
  }

  static async list(opts: Partial<LabDirs> = {}): Promise<LabSummary[]> {
    const dirs = { ...defaultDirs(), ...pickDirs(opts) };
    const labs: LabSummary[] = [];
    for (const name of await listLabNames(dirs)) {
      const s = await readState(dirs, name).catch(() => undefined);
      if (!s) {
        labs.push({ name, subnet: '?', status: 'broken', createdAt: '?', hosts: [] });
        continue;
      }
      // A lab whose namespaces vanished (deleted by hand) is reported, not hidden.
      const whole = s.status !== 'up' || (await Promise.all(s.hosts.map((h) => exists(netnsPath(h.netns))))).every(Boolean);
      labs.push({
        name: s.name,
        subnet: s.subnet,
        status: whole ? s.status : 'degraded',
        createdAt: s.createdAt,
        hosts: s.hosts.map((h) => ({ name: h.name, addr: h.addr })),
      });
    }
    return labs;
  }

  /** Removes the named lab if there is one; doing it twice is fine. */
  static async down(name: string = DEFAULT_LAB, opts: LabOpenOptions & { graceMs?: number } = {}): Promise<TeardownReport> {
    const dirs = { ...defaultDirs(), ...pickDirs(opts) };
    const state = await readState(dirs, checkLabName(name));
    if (!state) return { killed: 0, removed: 0, residue: [] };
    const report = await teardown(state, opts.logger ?? labLogger(), opts.graceMs);
    if (report.residue.length === 0) await removeState(dirs, name);
    else await saveState(dirs, { ...state, status: 'broken' });
    return report;
  }

  down(opts: { graceMs?: number } = {}): Promise<TeardownReport> {
    return Lab.down(this.name, { ...this.dirs, logger: this.log, ...opts });
  }

  host(name: string): LabHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) {
      throw new LabNotFoundError(
        `lab ${this.name} has no host ${JSON.stringify(name)}; its hosts are ${this.hosts.map((x) => x.name).join(', ')}`,
      );
    }
    return h;
  }

  /**
   * Cuts a host off the lab's network; its processes keep running. `down` (default) is a pulled
   * cable: its port on the switch (the veth `hN` in the switch namespace) goes down, the host
   * sees no carrier and connects fail (EHOSTUNREACH once ARP gives up). `drop` is a silent
   * partition: a bridge nftables table `shoal_cut_hN` in the switch namespace drops every frame
   * from or to the port while the carrier stays up, so packets vanish and connections hang
   * until their own timeouts. Either lives only in the switch namespace, which `down` deletes:
   * nothing to record. Cutting twice is fine.
   */
  async cutLink(host: string | LabHost, opts: { mode?: 'down' | 'drop' } = {}): Promise<void> {
    const h = typeof host === 'string' ? this.host(host) : host;
    if (opts.mode === 'drop') {
      const t = cutTable(h.name);
      await this.switchNft(
        `add table bridge ${t}\ndelete table bridge ${t}\n` +
          `table bridge ${t} {\n` +
          `  chain forward { type filter hook forward priority 0; policy accept; iifname "${h.name}" drop; oifname "${h.name}" drop; }\n` +
          `  chain input { type filter hook input priority 0; policy accept; iifname "${h.name}" drop; }\n` +
          `  chain output { type filter hook output priority 0; policy accept; oifname "${h.name}" drop; }\n` +
          `}\n`,
      );
    } else {
      await ipBatch(this.switchNetns, [`link set ${h.name} down`]);
    }
    this.log.info({ lab: this.name, host: h.name, mode: opts.mode ?? 'down' }, 'link cut');
  }

  /** Undoes cutLink of either mode (fine on a link that is not cut). */
  async restoreLink(host: string | LabHost): Promise<void> {
    const h = typeof host === 'string' ? this.host(host) : host;
    const t = cutTable(h.name);
    await this.switchNft(`add table bridge ${t}\ndelete table bridge ${t}\n`);
    await ipBatch(this.switchNetns, [`link set ${h.name} up`]);
    this.log.info({ lab: this.name, host: h.name }, 'link restored');
  }

  /** Whether a host's link carries traffic (false after cutLink of either mode). */
  async linkUp(host: string | LabHost): Promise<boolean> {
    const h = typeof host === 'string' ? this.host(host) : host;
    const out = await mustRun(['ip', '-n', this.switchNetns, '-o', 'link', 'show', 'dev', h.name]);
    const tables = await mustRun(['nsenter', `--net=${netnsPath(this.switchNetns)}`, 'nft', 'list', 'tables', 'bridge']);
    return /[<,]UP[,>]/.test(out) && !tables.split('\n').some((l) => l.trim() === `table bridge ${cutTable(h.name)}`);
  }

  private async switchNft(script: string): Promise<void> {
    await mustRun(['nsenter', `--net=${netnsPath(this.switchNetns)}`, 'nft', '-f', '-'], script);
  }

  /** The variables every command in a host gets. */
  env(host: string | LabHost): Record<string, string> {
    const h = typeof host === 'string' ? this.host(host) : host;
    return {
      SHOAL_ROOT: h.root,
      SHOAL_RUN: h.run,
      SHOAL_LAB_HOST: h.name, // not SHOAL_HOST: that is the CLI's manager address (as DOCKER_HOST)
      SHOAL_ADDR: h.addr,
      SHOAL_LAB: this.name,
      SHOAL_CGROUP_PARENT: h.cgroupParent,
    };
  }

  /** The argv that runs `argv` inside the host (for callers that spawn it themselves). */
  command(host: string | LabHost, argv: readonly string[]): string[] {
    const h = typeof host === 'string' ? this.host(host) : host;
    return ['nsenter', `--net=${h.netnsPath}`, `--uts=${h.utsPath}`, ...argv];
  }

  /** Starts a process in the host; its pid is the command's own (nsenter execs it). */
  spawn(host: string | LabHost, argv: readonly string[], opts: LabSpawnOptions = {}): ChildProcess {
    const h = typeof host === 'string' ? this.host(host) : host;
    const full = this.command(h, argv);
    return spawn(full[0]!, full.slice(1), { ...opts, env: { ...process.env, ...this.env(h), ...opts.env } });
  }

  /**
   * Resolves once a TCP connect from `from` to addr:port succeeds (a daemon in a host is ready);
   * rejects after timeoutMs. The lab's addresses are reachable only from inside its hosts.
   */
  async waitForTcp(from: string | LabHost, addr: string, port: number, timeoutMs = 10_000): Promise<void> {
    const r = await this.exec(from, [process.execPath, '-e', WAIT_TCP, addr, String(port), String(timeoutMs)], {
      timeoutMs: timeoutMs + 5_000,
    });
    if (r.code !== 0) {
      const h = typeof from === 'string' ? from : from.name;
      throw new Error(`nothing accepted TCP connections on ${addr}:${port} (from ${h}) within ${timeoutMs} ms`);
    }
  }

  /** Runs a command in the host to completion and collects its output; never throws on exit codes. */
  async exec(host: string | LabHost, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const child = this.spawn(host, argv, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
      child.stdin!.on('error', () => undefined); // the command may exit without reading
      child.stdin!.end(opts.input ?? '');
    });
  }
}

/** The nftables table of a host's `drop` cut, in the switch namespace. */
function cutTable(host: string): string {
  return `shoal_cut_${host}`;
}

// Runs inside a host: retries a TCP connect until it succeeds or the deadline passes.
const WAIT_TCP = `const net=require('net');const [addr,port,ms]=process.argv.slice(1);const end=Date.now()+Number(ms);
(function attempt(){const s=net.connect(Number(port),addr);s.once('connect',()=>{s.destroy();process.exit(0)});
s.once('error',()=>{s.destroy();if(Date.now()>end)process.exit(1);setTimeout(attempt,50)})})()`;

function pickDirs(opts: Partial<LabDirs>): Partial<LabDirs> {
  const out: Partial<LabDirs> = {};
  if (opts.stateDir) out.stateDir = opts.stateDir;
  if (opts.dataDir) out.dataDir = opts.dataDir;
  return out;
}
