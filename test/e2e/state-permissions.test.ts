// Issue 9, point 3: after the README's own commands (image load, container run, daemon + init), a
// local unprivileged user (uid 65534 through setpriv) must not list SHOAL_ROOT or SHOAL_RUN, read
// the Raft log, a private key or a container's environment, run a setuid binary from an image
// layer or a container's writable layer, or open a device node shipped in a layer. Directories
// found open (an older install) are closed and the fix is reported. Real CLI and daemon processes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroups } from '../../agent/runtime/cgroups/index.js';
import { dockerSaveArchive, makeTar } from '../agent/images/fixtures.js';
import { leftoverCgroups, leftoverMounts } from '../agent/runtime/helpers.js';
import { testImagePath } from '../helpers/images.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const REPO = join(import.meta.dirname, '..', '..');
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const CG_CLI = `shoalperm-cli-${process.pid}`;
const CG_DAEMON = `shoalperm-d-${process.pid}`;
const SECRET_ENV = 'SHOALPERM_PASSWORD=hunter2-in-container-json';

let base: string;
let cliRoot: string; // made by the CLI
let cliRun: string; // made 0755 beforehand, as the old CLI left it
let dRoot: string; // made 0755 beforehand
let dRun: string;
let daemon: ChildProcess | undefined;
let daemonLog = '';
let containerId = '';
let runWarnings = '';

interface Run {
  code: number;
  out: string;
  err: string;
}

function shoal(env: Record<string, string>, ...args: string[]): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'cli/main.ts'), ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, SHOAL_DEBUG: '', ...env },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const cli = (...args: string[]): Run => shoal({ SHOAL_ROOT: cliRoot, SHOAL_RUN: cliRun, SHOAL_CGROUP_PARENT: CG_CLI }, ...args);

/**
 * Runs argv as uid/gid 65534 with no supplementary groups. Through a shell: setpriv's own execve
 * still holds root's capabilities (it reached a 0700 directory), the shell's holds none.
 */
function asNobody(...argv: string[]): Run {
  const r = spawnSync('setpriv', [...NOBODY, '--', '/bin/sh', '-c', 'exec "$@"', 'sh', ...argv], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function expectDenied(r: Run, what: string): void {
  expect({ what, code: r.code === 0 ? 'succeeded' : 'failed', out: r.out }).toEqual({ what, code: 'failed', out: '' });
  expect(r.err, what).toMatch(/Permission denied/);
}

const mode = (p: string): string => (statSync(p).mode & 0o7777).toString(8);

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** A layer as a hostile image ships it: a setuid-root copy of id(1) and a world-writable device node. */
async function suidImage(path: string): Promise<void> {
  const layer = await makeTar([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/suid-id', data: readFileSync('/usr/bin/id'), mode: 0o4755 },
    { name: 'dev/', type: 'directory' },
    { name: 'dev/open-null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  ]);
  writeFileSync(path, await dockerSaveArchive({ layers: [layer], names: ['shoalperm-suid:1'] }));
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'shoalperm-'));
  chmodSync(base, 0o755); // the attacker can reach everything up to shoal's own directories
  cliRoot = join(base, 'root');
  cliRun = join(base, 'run');
  dRoot = join(base, 'droot');
  dRun = join(base, 'drun');
  mkdirSync(cliRun, { mode: 0o755 });
  mkdirSync(dRoot, { mode: 0o755 });
  chmodSync(cliRun, 0o755);
  chmodSync(dRoot, 0o755);

  // the README's single-host commands
  await suidImage(join(base, 'suid.tar'));
  for (const archive of [testImagePath('busybox'), join(base, 'suid.tar')]) {
    const r = cli('image', 'load', '-i', archive);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  }
  const run = cli('container', 'run', '-d', '--name', 'shoalperm-c', '-e', SECRET_ENV, 'busybox', 'sh', '-c', 'cp /bin/busybox /suidbb && chmod 4755 /suidbb && exec sleep 600');
  expect(run.code, run.err).toBe(0);
  containerId = run.out.trim();
  runWarnings = run.err;
  await waitFor('the container to write its setuid file', () => existsSync(join(cliRun, 'containers', containerId, 'upper', 'suidbb')));

  // the daemon, then `shoal init` through its local socket
  const [port] = await freePorts(1);
  const addr = `127.0.0.1:${port}`;
  daemon = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'cli/main.ts'), 'daemon', '--root', dRoot, '--run', dRun, '--listen-addr', addr, '--advertise-addr', addr], {
    cwd: REPO,
    env: { ...process.env, SHOAL_CGROUP_PARENT: CG_DAEMON, SHOAL_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  daemon.stderr!.on('data', (d: Buffer) => (daemonLog += d.toString()));
  await waitFor('the daemon socket', () => existsSync(join(dRun, 'shoal.sock')), 60_000);
  const init = shoal({ SHOAL_RUN: dRun, SHOAL_ROOT: dRoot }, 'init', '--advertise-addr', addr);
  expect(init.code, init.err).toBe(0);
  await waitFor('the Raft log', () => existsSync(join(dRoot, 'raft')) && filesUnder(join(dRoot, 'raft')).length > 0);
}, 300_000);

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((r) => daemon!.once('exit', r));
    daemon.kill('SIGTERM');
    const t = setTimeout(() => daemon!.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(t);
  }
  if (cliRun) cli('container', 'rm', '-f', 'shoalperm-c');
  for (const cg of [CG_CLI, CG_DAEMON]) await detectCgroups().open(cg)?.remove();
  if (base) {
    expect(leftoverMounts(base)).toEqual([]);
    rmSync(base, { recursive: true, force: true });
  }
  expect([...leftoverCgroups(CG_CLI), ...leftoverCgroups(CG_DAEMON)]).toEqual([]);
}, 120_000);

describe('state directories against a local unprivileged user', () => {
  it('SHOAL_ROOT and SHOAL_RUN are 0700, and open ones were closed with a warning', () => {
    expect([mode(cliRoot), mode(cliRun), mode(dRoot), mode(dRun)]).toEqual(['700', '700', '700', '700']);
    // the run directory was found 0755 by the first command that used it, which said so
    expect(runWarnings).toContain(`shoal: warning: ${cliRun} was mode 0755, open to other local users: changed to 0700`);
    expect(cli('image', 'ls').err).toBe(''); // already closed: nothing more to say
    expect(mode(join(cliRun, 'containers'))).toBe('700');
    expect(daemonLog).toContain(`${dRoot} was mode 0755, open to other local users: changed to 0700`);
    for (const d of [cliRoot, cliRun, dRoot, dRun]) expectDenied(asNobody('ls', d), `list ${d}`);
  });

  it('the Raft log, the node key and a container record are 0600 behind private directories', () => {
    const raftFiles = filesUnder(join(dRoot, 'raft'));
    expect(raftFiles.length).toBeGreaterThan(0);
    const key = join(dRoot, 'certificates', 'node.key');
    const record = join(cliRun, 'containers', containerId, 'container.json');
    expect(readFileSync(record, 'utf8')).toContain(SECRET_ENV); // what an attacker would be after
    expect(mode(record)).toBe('600');
    expect(mode(key)).toBe('600');
    for (const f of [...raftFiles, key, record]) expectDenied(asNobody('cat', f), `read ${f}`);
  });

  it('a container whose user is not root still works behind the 0700 directories', () => {
    const r = cli('container', 'run', '--rm', '-u', '65534:65534', 'busybox', 'sh', '-c', 'id -u; cat /bin/busybox >/dev/null && echo >/tmp/w && echo ok');
    expect(r.err).toBe('');
    expect(r.out).toBe('65534\nok\n');
    expect(r.code).toBe(0);
  });

  it('a setuid binary or device node in an image layer or a writable layer is out of reach', () => {
    const layers = join(cliRoot, 'images', 'layers');
    const diffs = readdirSync(layers).map((h) => join(layers, h, 'diff'));
    const suid = diffs.map((d) => join(d, 'bin', 'suid-id')).find((p) => existsSync(p))!;
    const dev = diffs.map((d) => join(d, 'dev', 'open-null')).find((p) => existsSync(p))!;
    expect(statSync(suid).mode & 0o4000).toBe(0o4000); // the layer kept its setuid bit
    expect(statSync(dev).isCharacterDevice()).toBe(true);
    expectDenied(asNobody(suid, '-u'), `run ${suid}`);
    expectDenied(asNobody('sh', '-c', `echo x > ${dev}`), `open ${dev}`);
    const upper = join(cliRun, 'containers', containerId, 'upper', 'suidbb');
    expect(statSync(upper).mode & 0o4000).toBe(0o4000);
    expectDenied(asNobody(upper, 'id'), `run ${upper}`);
  });
});
