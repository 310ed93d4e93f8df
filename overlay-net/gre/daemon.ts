// Supervisor of shoal-gre, the userspace GRE data path (native/gre): one process per host,
// started in the host's network namespace when its first userspace GRE network appears and
// stopped with its last. It keeps no state of its own: after every start this side pushes the
// whole state (networks: key -> TAP, peers: key + underlay address) over its control socket,
// as one transaction. When the process dies (the control connection closes) it is started
// again with backoff and given the state again; the TAPs are persistent, so routes and
// neighbours stay and traffic resumes. The pid file says who owns the process: a supervisor
// that finds it removed or naming another process stops caring (another OverlayHost adopted it).
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { KernelFeatureError } from '../errors.js';

export interface GreState {
  networks: { key: number; tap: string }[];
  peers: { key: number; address: string }[];
}

export interface GreDaemonOptions {
  stateDir: string;
  /** The host's network namespace when this process does not run in it. */
  hostNetns?: string;
  underlayAddress: string;
  logger?: Logger;
}

const READY_MS = 10_000;
const STOP_MS = 3_000;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 5_000;

export function greBinary(): string {
  const found = process.env.SHOAL_GRE_BIN ?? findUp('native/build/Release/shoal-gre');
  if (found && !existsSync(found)) throw new KernelFeatureError(`shoal-gre (the userspace GRE data path) not found at ${found}`);
  if (!found)
    throw new KernelFeatureError('this kernel has no gretap and shoal-gre (the userspace GRE data path) is not built: run `npm run build:native`');
  return found;
}

export class GreDaemon {
  readonly socketPath: string;
  readonly pidFile: string;
  readonly logFile: string;
  private conn: Socket | undefined;
  private replies: ((line: string) => void)[] = [];
  private buffered = '';
  private desired: GreState = { networks: [], peers: [] };
  private chain: Promise<unknown> = Promise.resolve();
  private ownPid: number | undefined;
  private backoff = BACKOFF_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  /** Starts counted since this supervisor was made (tests and logs read it). */
  starts = 0;

  constructor(private readonly opts: GreDaemonOptions) {
    this.socketPath = join(opts.stateDir, 'gre.sock');
    this.pidFile = join(opts.stateDir, 'gre.pid');
    this.logFile = join(opts.stateDir, 'gre.log');
  }

  /** The running process's pid, if one is owned. */
  pid(): number | undefined {
    const pid = readPid(this.pidFile);
    return pid !== undefined && this.isOurs(pid) ? pid : undefined;
  }

  /** Makes the process run with exactly `state` (stops it when there is no network). */
  sync(state: GreState): Promise<void> {
    return this.serial(async () => {
      const before = this.desired;
      this.desired = state;
      try {
        await (state.networks.length === 0 ? this.stopNow() : this.pushNow());
      } catch (err) {
        // Refused whole: what a restart pushes stays what the process last accepted.
        this.desired = before;
        throw err;
      }
    });
  }

  /** Stops the process and removes its files; what is found of an earlier run goes too. */
  stop(): Promise<void> {
    this.desired = { networks: [], peers: [] };
    return this.serial(() => this.stopNow());
  }

  /** The daemon's counters (rx, tx, rxdrop, txdrop, segs, nets, peers). */
  stats(): Promise<Record<string, number>> {
    return this.serial(async () => {
      const line = await this.request('stats\n');
      return Object.fromEntries(
        line
          .split(' ')
          .slice(1)
          .map((kv) => kv.split('='))
          .map(([k, v]) => [k!, Number(v)]),
      );
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async pushNow(): Promise<void> {
    await this.ensureRunning();
    const s = this.desired;
    const lines = ['begin', ...s.networks.map((n) => `net ${n.key} ${n.tap}`), ...s.peers.map((p) => `peer ${p.key} ${p.address}`), 'commit'];
    const answer = await this.request(lines.join('\n') + '\n');
    if (answer !== 'ok') throw new Error(`shoal-gre refused the state: ${answer.replace(/^err /, '')}`);
  }

  private async ensureRunning(): Promise<void> {
    if (this.conn && !this.conn.destroyed) return;
    const pid = readPid(this.pidFile);
    if (pid !== undefined && this.isOurs(pid)) {
      // Adopt a process an earlier supervisor (an agent before its restart) started.
      try {
        await this.connect();
        this.ownPid = pid;
        return;
      } catch {
        await killAndWait(pid);
      }
    }
    await this.killStrays();
    await this.start();
  }

  private async start(): Promise<void> {
    await mkdir(this.opts.stateDir, { recursive: true });
    await rm(this.socketPath, { force: true });
    const argv = [greBinary(), '--socket', this.socketPath, '--local', this.opts.underlayAddress];
    const full = this.opts.hostNetns ? ['nsenter', `--net=${this.opts.hostNetns}`, ...argv] : argv;
    const log = openSync(this.logFile, 'a', 0o600);
    // nsenter --net execs the daemon in place (no fork), so the child's pid is the daemon's.
    const child = spawn(full[0]!, full.slice(1), { detached: true, stdio: ['ignore', 'pipe', log] });
    closeSync(log);
    const pid = child.pid;
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`shoal-gre did not start within ${READY_MS} ms (see ${this.logFile})`)), READY_MS);
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('ready\n')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        child.on('exit', (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`shoal-gre exited at start (${sig ?? `exit ${code}`}); see ${this.logFile}`));
        });
      });
      if (pid === undefined) throw new Error('shoal-gre: no pid');
      await writeFile(this.pidFile, `${pid}\n`, { mode: 0o600 });
      this.ownPid = pid;
      await this.connect();
    } catch (err) {
      // The pid file keeps naming the last process this supervisor owned, so a restart that
      // failed is retried (scheduleRestart); stop() removes it.
      if (pid !== undefined) await killAndWait(pid);
      throw err;
    } finally {
      child.stdout!.destroy();
      child.unref();
    }
    this.starts++;
    this.startedAt = Date.now();
    this.opts.logger?.info({ pid, socket: this.socketPath }, 'shoal-gre started');
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = connect(this.socketPath);
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        sock.on('error', () => undefined);
        sock.setEncoding('utf8');
        sock.on('data', (d: string) => this.onData(d));
        sock.on('close', () => this.onClose(sock));
        this.conn = sock;
        this.buffered = '';
        resolve();
      });
    });
  }

  private onData(d: string): void {
    this.buffered += d;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      this.replies.shift()?.(line);
    }
  }

  private request(text: string): Promise<string> {
    const conn = this.conn;
    if (!conn || conn.destroyed) return Promise.reject(new Error('shoal-gre is not running'));
    return new Promise((resolve, reject) => {
      const onClose = () => reject(new Error('shoal-gre went away while answering'));
      conn.once('close', onClose);
      this.replies.push((line) => {
        conn.off('close', onClose);
        resolve(line);
      });
      conn.write(text);
    });
  }

  /** The connection closed: the process died (or was stopped). Restart it if it is still ours. */
  private onClose(sock: Socket): void {
    if (this.conn !== sock) return;
    this.conn = undefined;
    this.replies = [];
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    // Ours while the pid file names the process this supervisor started or adopted; a stop (of
    // this or another supervisor) removes it, an adopting supervisor rewrites it.
    if (this.desired.networks.length === 0 || this.ownPid === undefined || readPid(this.pidFile) !== this.ownPid) return;
    if (Date.now() - this.startedAt > 30_000) this.backoff = BACKOFF_MIN_MS;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    this.opts.logger?.warn({ pid: this.ownPid, restartInMs: delay }, 'shoal-gre is gone; restarting');
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.serial(async () => {
        if (this.desired.networks.length === 0 || this.conn || readPid(this.pidFile) !== this.ownPid) return;
        await this.pushNow();
      }).catch((err: unknown) => {
        this.opts.logger?.error({ err }, 'shoal-gre restart failed');
        if (!this.conn) this.scheduleRestart();
      });
    }, delay);
    this.restartTimer.unref();
  }

  private async stopNow(): Promise<void> {
    clearTimeout(this.restartTimer);
    const pid = readPid(this.pidFile);
    const conn = this.conn;
    this.conn = undefined;
    conn?.destroy();
    if (pid !== undefined && this.isOurs(pid)) await killAndWait(pid);
    await this.killStrays();
    await rm(this.pidFile, { force: true });
    await rm(this.socketPath, { force: true });
    this.ownPid = undefined;
  }

  private isOurs(pid: number): boolean {
    const cmd = cmdline(pid);
    return cmd !== undefined && cmd.includes('shoal-gre') && cmd.includes(this.socketPath);
  }

  /** Processes serving this socket path that the pid file does not name (a lost pid file). */
  private async killStrays(): Promise<void> {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (pid === process.pid) continue;
      const cmd = cmdline(pid);
      if (cmd && cmd.split('\0').some((a) => a.endsWith('shoal-gre')) && cmd.split('\0').includes(this.socketPath)) await killAndWait(pid);
    }
  }
}

function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  // A zombie (dead, not yet reaped by its parent) counts as gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

async function killAndWait(pid: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      /* gone already */
    }
  };
  signal('SIGTERM');
  const end = Date.now() + STOP_MS;
  while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  if (alive(pid)) {
    signal('SIGKILL');
    while (alive(pid)) await new Promise((r) => setTimeout(r, 10));
  }
}

function findUp(rel: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, rel);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}
