// Talks to native/shim (shoal-shim): hands it its NUL-separated config and starts it. `run`
// goes through the addon's posix_spawn (no fork of Node, reaped off the event loop) with the
// config on the shim's stdin; `exec` writes a config file and uses child_process because its
// stdio is the caller's.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { constants } from 'node:os';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Credentials } from './user.js';
import type { MountSpec } from './types.js';
import { hasCode } from '../../proto/undo.js';

export interface ShimProcessConfig {
  args: string[];
  env: string[];
  cwd: string;
  creds: Credentials;
  /** cgroup.procs files the process is written into */
  procs: string[];
}

export interface ShimRunConfig extends ShimProcessConfig {
  id: string;
  dir: string;
  rootfs: string;
  upper: string;
  work: string;
  layers: string[];
  readOnly: boolean;
  hostname: string;
  net: string;
  oomFile: string | null;
  /** cgroup2 directory to attach the device-access BPF program to (hosts without v1 devices) */
  devBpf: string | null;
  mounts: MountSpec[];
  /** hierarchies shown read-only under /sys/fs/cgroup: dir ('' = the mount itself), fstype, options */
  cgroupMounts: { dir: string; fstype: string; options: string }[];
  logMaxBytes: number;
  logMaxFiles: number;
}

interface NativeSpawn {
  spawnShim(path: string, args: string[], argv0?: string): Promise<{ status: number; stdout: string }>;
  spawnPiped(path: string, args: string[], setsid?: boolean, stdin?: Buffer, argv0?: string): { pid: number; fd: number };
  /** Set by builds whose spawnPiped takes the stdin buffer. */
  spawnPipedStdin?: boolean;
  reap(pid: number): number;
  tryReap(pid: number): number | null;
  /** A sealed memfd copy of the file, as a path to exec (made once per process). */
  sealedCopy?(path: string): string;
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

let shimPath: string | undefined;
export function shimBinary(): string {
  shimPath ??= process.env.SHOAL_SHIM ?? findUp('native/build/Release/shoal-shim') ?? '';
  if (!shimPath) throw new Error('shoal-shim not found: build it with `npm run build:native`');
  return shimPath;
}

let sealedPath: string | undefined;
/**
 * What to exec for the shim: the addon's sealed in-memory copy of it, so that no shim process
 * runs the host's file, which a container could otherwise reach through /proc/PID/exe
 * (CVE-2019-5736; native/shim/sealed.h). One copy serves every start of this process; without
 * the addon the shim copies itself at each start (same protection, a copy's cost per start).
 */
function shimExecutable(): string {
  if (sealedPath !== undefined) return sealedPath;
  const bin = shimBinary();
  const n = nativeSpawn();
  sealedPath = n?.sealedCopy ? n.sealedCopy(bin) : bin;
  return sealedPath;
}

let native: NativeSpawn | null | undefined;
function nativeSpawn(): NativeSpawn | null {
  if (native !== undefined) return native;
  const addon = findUp('native/build/Release/shoal_native.node');
  const mod = addon ? (createRequire(import.meta.url)(addon) as Partial<NativeSpawn>) : null;
  native = mod && typeof mod.spawnPiped === 'function' && typeof mod.tryReap === 'function' ? (mod as NativeSpawn) : null;
  return native;
}

function encode(entries: string[][]): Buffer {
  return Buffer.from(entries.map((e) => e.join('\0') + '\0').join(''));
}

function processEntries(c: ShimProcessConfig): string[][] {
  const e: string[][] = [];
  for (const a of c.args) e.push(['arg', a]);
  for (const v of c.env) e.push(['env', v]);
  e.push(['cwd', c.cwd], ['uid', String(c.creds.uid)], ['gid', String(c.creds.gid)]);
  for (const g of c.creds.groups) e.push(['group', String(g)]);
  for (const p of c.procs) e.push(['procs', p]);
  return e;
}

export function encodeRunConfig(c: ShimRunConfig): Buffer {
  const e: string[][] = [
    ['id', c.id], ['state', c.dir], ['rootfs', c.rootfs], ['upper', c.upper], ['work', c.work],
    ['hostname', c.hostname], ['net', c.net],
    ['logmax', String(c.logMaxBytes)], ['logfiles', String(c.logMaxFiles)],
  ];
  for (const l of c.layers) e.push(['layer', l]);
  if (c.readOnly) e.push(['readonly']);
  if (c.oomFile) e.push(['oom', c.oomFile]);
  if (c.devBpf) e.push(['devbpf', c.devBpf]);
  for (const m of c.cgroupMounts) e.push(['cgroupfs', m.dir, m.fstype, m.options]);
  for (const m of c.mounts) {
    if (m.type === 'bind') e.push(['bind', m.source, m.target, m.readOnly ? 'ro' : 'rw']);
    else e.push(['tmpfs', m.target, m.options ?? 'noexec,nosuid,nodev']);
  }
  return encode([...e, ...processEntries(c)]);
}

export async function writeExecConfig(path: string, pid: number, c: ShimProcessConfig): Promise<void> {
  writeFileSync(path, encode([['pid', String(pid)], ...processEntries(c)]), { mode: 0o600 });
}

export type RunOutcome = { ok: true; pid: number } | { ok: false; reason: string };

/** Beyond this the config goes through a file (a pipe's buffer is grown to hold it at once). */
const STDIN_CONFIG_MAX = 512 * 1024;

/**
 * Starts `shoal-shim run` for the container whose state directory is `dir`; resolves once the
 * container's process has exec'd or failed. The config travels on the shim's stdin: a file
 * per start was a create and an unlink on the host's disk, which is slow when it is busy.
 */
export async function runShim(config: Buffer, dir: string): Promise<RunOutcome> {
  const bin = shimBinary();
  try {
    shimExecutable();
  } catch (e) {
    // never the host's file instead: the start fails and says why
    return { ok: false, reason: `no sealed copy of the shim: ${(e as Error).message}` };
  }
  if (process.env.SHOAL_SHIM_TRACE) {
    // same clock and format as the shim's own trace lines, so the start reads as one timeline
    const us = process.hrtime.bigint() / 1000n;
    appendFileSync(join(dir, 'shim.log'), `trace ${process.pid} node: spawning the shim ${us}\n`);
  }
  const n = nativeSpawn();
  let stdout: string;
  if (n?.spawnPipedStdin && config.length <= STDIN_CONFIG_MAX) {
    // the state directory is named on the command line, which is how shimAlive() (and ps) tell
    // whose supervisor a process is; the shim itself takes it from the config
    stdout = (await spawnSupervisor(n, bin, ['run', '-', '--in-place', dir], config)).stdout;
  } else {
    const path = join(dir, 'shim.conf');
    writeFileSync(path, config, { mode: 0o600 });
    try {
      stdout = (n ? await spawnSupervisor(n, bin, ['run', path, '--in-place']) : await spawnCollect(bin, ['run', path])).stdout;
    } finally {
      try {
        unlinkSync(path);
      } catch (err) {
        if (!hasCode(err, ['ENOENT'])) throw err;
        // already gone
      }
    }
  }
  const line = stdout.trim();
  const m = /^ok (\d+)$/.exec(line);
  if (m) return { ok: true, pid: Number(m[1]) };
  return { ok: false, reason: line.replace(/^error /, '') || 'the shim exited without a report' };
}

// Supervisors this process spawned in place: its children until they exit, so ours to reap.
const supervisors = new Set<number>();
let reaper: NodeJS.Timeout | undefined;

/** Reaps the supervisors that have exited (called when a container's exit is seen, and on a timer). */
export function reapSupervisors(): void {
  const n = native;
  if (!n) return;
  for (const pid of supervisors) if (n.tryReap(pid) !== null) supervisors.delete(pid);
  if (supervisors.size === 0 && reaper) {
    clearInterval(reaper);
    reaper = undefined;
  }
}

/**
 * posix_spawn of `shoal-shim run CONFIG --in-place` as a session leader: the spawned process is
 * the supervisor itself (no fork in the shim), and the event loop reads its report (epoll, no
 * pool thread). It stays our child until its container exits, so we reap it then.
 */
async function spawnSupervisor(n: NativeSpawn, bin: string, args: string[], stdin?: Buffer): Promise<{ status: number; stdout: string }> {
  const { pid, fd } = n.spawnPiped(shimExecutable(), args, true, stdin, bin);
  supervisors.add(pid);
  reaper ??= setInterval(reapSupervisors, 5_000).unref();
  const sock = new Socket({ fd, readable: true, writable: false });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      sock.on('data', (d: Buffer) => (out += d.toString()));
      sock.on('end', () => resolve());
      sock.on('error', reject);
    });
  } finally {
    sock.destroy();
  }
  reapSupervisors(); // a failed start: the supervisor is gone already
  return { status: 0, stdout: out };
}

function spawnCollect(bin: string, args: string[]): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(shimExecutable(), args, { argv0: bin, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? 1, stdout: out }));
  });
}

export interface ExecOutcome {
  code: number;
  stdout: string;
  stderr: string;
  /** set when the shim failed before the command ran */
  error: string | null;
}

/** Runs `shoal-shim exec CONFIG 3`; fd 3 carries a pre-exec failure, stdio is passed or piped. */
export function execShim(configPath: string, stdio: 'inherit' | 'pipe'): Promise<ExecOutcome> {
  return new Promise((resolve, reject) => {
    // (Node's spawn passes on a descriptor it inherited without close-on-exec: the shim closes it)
    const child = spawn(shimExecutable(), ['exec', configPath, '3'], {
      argv0: shimBinary(),
      stdio: stdio === 'inherit' ? ['inherit', 'inherit', 'inherit', 'pipe'] : ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let report = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (report += d.toString()));
    child.on('error', reject);
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      // background processes of the command may keep our pipes open: stop reading them
      for (const s of [child.stdout, child.stderr, child.stdio[3]]) s?.destroy();
      const r = report.trim();
      resolve({
        code: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0),
        stdout: out,
        stderr: err,
        error: r.startsWith('error ') ? r.slice(6) : null,
      });
    };
    child.on('close', finish);
    child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 200));
  });
}
