// A real `shoal daemon` process kept busy making containers (issue 9, point 5): `service rm`
// while its tasks are still being created leaves no container behind and none appear after,
// and SIGTERM stops the busy daemon (it used to wait for every start under way).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../agent/images/index.js';
import { ContainerRuntime } from '../../agent/runtime/index.js';
import { detectCgroups } from '../../agent/runtime/cgroups/index.js';
import { daemonPaths, type DaemonPaths } from '../../daemon/paths.js';
import { runShoal } from '../cli/run-shoal.js';
import { testImagePath } from '../helpers/images.js';
import { freePorts } from '../helpers/ports.js';

const log = pino({ level: 'silent' });
const cgroupParent = `shoalbusy-${process.pid}`;
let root = '';
let paths: DaemonPaths;
let listen = '';
let daemon: { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } | undefined;

function startDaemon(): NonNullable<typeof daemon> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'daemon', '--root', paths.root, '--run', paths.run, '--listen-addr', listen, '--advertise-addr', listen, '--shutdown-timeout', '5'], {
    cwd: join(import.meta.dirname, '../..'),
    env: { ...process.env, SHOAL_CGROUP_PARENT: cgroupParent, SHOAL_HEARTBEAT_MS: '500', SHOAL_LOG_LEVEL: 'info', SHOAL_MAX_REPLICAS: '60' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
  return { child, exited, stderr: () => stderr };
}

const shoal = (args: string[]) => runShoal(args, { SHOAL_RUN: paths.run });
const runtime = () => new ContainerRuntime({ stateDir: paths.containersDir, cgroupParent, logger: log });
const containers = async () => (await runtime().list()).length;

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${daemon?.stderr().slice(-3000) ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'shoalbusy-'));
  paths = daemonPaths(join(root, 'lib'), join(root, 'run'));
  await new ImageStore({ root: paths.imagesDir }).load(testImagePath('busybox'));
  const [port] = await freePorts(1); // Raft binds the next port
  listen = `127.0.0.1:${port}`;
  daemon = startDaemon();
  await until('the daemon socket', async () => (await shoal(['info'])).code === 0 || undefined, 30_000).catch(() => undefined);
  const init = await shoal(['init', '--listen-addr', listen, '--advertise-addr', listen]);
  expect(init.code, init.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  if (daemon && daemon.child.exitCode === null && daemon.child.signalCode === null) {
    daemon.child.kill('SIGKILL');
    await daemon.exited;
  }
  const rt = runtime();
  for (const c of await rt.list().catch(() => [])) await rt.remove(c.id, { force: true }).catch(() => undefined);
  await detectCgroups({ logger: log }).open(cgroupParent)?.remove().catch(() => undefined);
  if (root) await rm(root, { recursive: true, force: true });
}, 120_000);

describe('a busy daemon', () => {
  it('the daemon option bounds replicas per service', async () => {
    const r = await shoal(['service', 'create', '--detach', '--name', 'toomany', '--replicas', '61', 'busybox', 'sleep', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/replicas 61 is more than the 60 allowed per service: .*--max-replicas/);
    expect(await containers()).toBe(0);
  });

  it('service rm while tasks are being created: all removed, and no new container appears after', async () => {
    const create = await shoal(['service', 'create', '--detach', '--name', 'busy', '--replicas', '50', 'busybox', 'sleep', '100000']);
    expect(create.code, create.stderr).toBe(0);
    await until('the first containers', async () => (await containers()) >= 3);
    const rmed = await shoal(['service', 'rm', 'busy']);
    expect(rmed.code, rmed.stderr).toBe(0);
    // Creates that had begun before this node heard of the removal may still finish; once it
    // has acted on it (a container of the service is removed), no create may begin any more.
    const known = new Set((await runtime().list()).map((c) => c.id));
    let removingSince: string | undefined;
    const late = new Set<string>();
    const seen = async (): Promise<number> => {
      const now = await runtime().list();
      const ids = new Set(now.map((c) => c.id));
      if (!removingSince && [...known].some((id) => !ids.has(id))) removingSince = new Date().toISOString();
      for (const c of now) {
        if (removingSince && c.createdAt > removingSince) late.add(`${c.name} created ${c.createdAt}`);
        known.add(c.id);
      }
      return now.length;
    };
    await until('every container removed', async () => (await seen()) === 0, 120_000);
    // nothing still under way comes back: watch for a while
    for (let i = 0; i < 30; i++) {
      expect(await seen()).toBe(0);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect([...late], `containers whose creation began after the node was removing the service (${removingSince})`).toEqual([]);
    const ls = await shoal(['service', 'ls']);
    expect(ls.stdout).not.toMatch(/busy/);
  }, 240_000);

  it('SIGTERM stops it while it is creating containers and stopping others', async () => {
    // sleep as pid 1 ignores SIGTERM: each stop waits out the hour's grace period
    const create = await shoal(['service', 'create', '--detach', '--name', 'busy2', '--replicas', '50', '--stop-grace-period', '1h', 'busybox', 'sleep', '100000']);
    expect(create.code, create.stderr).toBe(0);
    await until('the first containers', async () => (await containers()) >= 3);
    // busy both ways: creating the tasks' containers and removing them
    const rmed = await shoal(['service', 'rm', 'busy2']);
    expect(rmed.code, rmed.stderr).toBe(0);
    daemon!.child.kill('SIGTERM');
    // the shutdown timeout is 5 s; a daemon that ignores it would run on past this generous bound
    const code = await Promise.race([daemon!.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 60_000))]);
    expect(code, daemon!.stderr().slice(-3000)).not.toBe('still running');
    expect(daemon!.stderr()).toMatch(/"msg":"(daemon stopped|shutdown took longer than 5 s)/);
  }, 180_000);
});
