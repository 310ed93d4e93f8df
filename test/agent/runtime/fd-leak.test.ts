// Issue 9, point 2, as an attacker would do it. A caller (a shell, a daemon's parent) holds a
// descriptor to the host's `/` that is not close-on-exec; no container process may get it: not
// through `container run`, `container exec`, a task the agent runs, nor the supervisor. And a
// container may not reach the host's shim binary through /proc/PID/exe (CVE-2019-5736): a
// `#!/proc/self/exe` script run by `exec` or the container's init show a sealed memfd copy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../../../agent/images/index.js';
import { detectCgroups } from '../../../agent/runtime/cgroups/index.js';
import { shimBinary } from '../../../agent/runtime/shim.js';
import { leftoverCgroups, leftoverMounts, makeBusyboxLayer, makeFixture, type Fixture } from './helpers.js';

const repo = join(import.meta.dirname, '../../..');
const FD = 200;
let root: string;
let shoalRoot: string;
let shoalRun: string;
let secret: string;
let secretPath: string;
let writePath: string;
const cgroupParent = `shoalrt-fdleak-${process.pid}`;

/** Runs `argv` from bash after `exec 200</`: the descriptor is inherited, not close-on-exec. */
function withOpenRoot(argv: string[], env: NodeJS.ProcessEnv = process.env): { code: number; out: string; err: string } {
  const r = spawnSync('bash', ['-c', `exec ${FD}</ && exec "$@"`, 'bash', ...argv], { cwd: repo, encoding: 'utf8', env, timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const cliEnv = (): NodeJS.ProcessEnv => ({ ...process.env, SHOAL_ROOT: shoalRoot, SHOAL_RUN: shoalRun, SHOAL_CGROUP_PARENT: cgroupParent });
const cli = ['--import', 'tsx', join(repo, 'cli/main.ts'), 'container'];
const shoalFd = (...args: string[]) => withOpenRoot([process.execPath, ...cli, ...args], cliEnv());
function shoal(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [...cli, ...args], { cwd: repo, encoding: 'utf8', env: cliEnv(), timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** A shell line for the container: lists its descriptors, then reads and writes the host through fd 200. */
const probe = (): string =>
  `echo "FDS $(ls /proc/self/fd | tr '\\n' ' ')"; echo "PID1FDS $(ls /proc/1/fd 2>/dev/null | tr '\\n' ' ')"; ` +
  `cat /proc/self/fd/${FD}${secretPath} 2>/dev/null; echo pwned 2>/dev/null > /proc/self/fd/${FD}${writePath}; echo END`;

function fdsOf(out: string, tag: string): string[] {
  const line = out.split('\n').find((l) => l.startsWith(`${tag} `));
  expect(line, `no ${tag} line in ${JSON.stringify(out)}`).toBeDefined();
  return line!.slice(tag.length + 1).trim().split(/\s+/);
}

/** Only stdio, and the directory `ls` reads or the shell's end of `$(...)` (3); never fd 200. */
function expectStdioOnly(fds: string[]): void {
  expect(fds).toContain('1'); // the list was readable
  expect(fds).not.toContain(String(FD));
  expect(fds.filter((fd) => Number(fd) > 3)).toEqual([]);
}

function expectNoLeak(out: string, opts: { pid1?: boolean } = {}): void {
  expect(out).toContain('END');
  expectStdioOnly(fdsOf(out, 'FDS'));
  if (opts.pid1) expectStdioOnly(fdsOf(out, 'PID1FDS'));
  expect(out).not.toContain(secret);
  expect(existsSync(writePath)).toBe(false);
}

const containerIds = (): string[] =>
  existsSync(join(shoalRun, 'containers')) ? readdirSync(join(shoalRun, 'containers')).filter((e) => /^[0-9a-f]{64}$/.test(e)) : [];

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'shoalrt-fdleak-'));
  shoalRoot = join(root, 'root');
  shoalRun = join(root, 'run');
  mkdirSync(shoalRoot);
  secret = `host-secret-${randomBytes(8).toString('hex')}`;
  secretPath = join(root, 'secret');
  writePath = join(root, 'written-by-container');
  writeFileSync(secretPath, `${secret}\n`, { mode: 0o600 });
  const layer = makeBusyboxLayer(join(root, 'layer'));
  spawnSync('tar', ['-C', layer, '-cf', join(root, 'bb.tar'), '.']);
  await new ImageStore({ root: join(shoalRoot, 'images') }).importRootfs(join(root, 'bb.tar'), 'shoalrt-bb:1', { cmd: ['/bin/sh'] });
}, 60_000);

afterAll(async () => {
  for (const id of containerIds()) shoal('rm', '-f', id);
  await detectCgroups().open(cgroupParent)?.remove();
  expect(leftoverCgroups(cgroupParent)).toEqual([]);
  rmSync(root, { recursive: true, force: true });
  expect(leftoverMounts(root)).toEqual([]);
});

describe('a descriptor the caller leaves open does not reach containers', () => {
  it('container run: neither the process nor its pid 1 gets it', () => {
    // the harness does pass fd 200: a plain child sees it and reads the host through it
    const control = withOpenRoot(['sh', '-c', `ls /proc/self/fd; cat /proc/self/fd/${FD}${secretPath}`]);
    expect(control.out.split('\n')).toContain(String(FD));
    expect(control.out).toContain(secret);
    const r = shoalFd('run', '--rm', 'shoalrt-bb:1', 'sh', '-c', probe());
    expect(r.code, r.err).toBe(0);
    expectNoLeak(r.out, { pid1: true });
  }, 120_000);

  it('container run, on a kernel without close_range (the /proc/self/fd walk), as root and as a user', () => {
    for (const user of [[], ['--user', '1000']]) {
      const r = withOpenRoot([process.execPath, ...cli, 'run', '--rm', ...user, 'shoalrt-bb:1', 'sh', '-c', `id -u; ${probe()}`], { ...cliEnv(), SHOAL_SHIM_FDS_FALLBACK: '1' });
      expect(r.code, r.err).toBe(0);
      expect(r.out.split('\n')[0]).toBe(user.length ? '1000' : '0');
      expectNoLeak(r.out, { pid1: true });
    }
  }, 120_000);

  it('container run -d: the supervisor keeps none of the caller\'s descriptors', () => {
    const run = shoalFd('run', '-d', '--name', 'shoalrt-fd-sup', 'shoalrt-bb:1', 'sleep', '300');
    expect(run.code, run.err).toBe(0);
    const id = run.out.trim();
    try {
      const shimPid = Number(readFileSync(join(shoalRun, 'containers', id, 'shim.pid'), 'utf8').trim());
      const fds = readdirSync(`/proc/${shimPid}/fd`);
      expect(fds).not.toContain(String(FD));
      for (const fd of fds) expect(readlinkSync(`/proc/${shimPid}/fd/${fd}`)).not.toBe('/');
      // run from the sealed copy, still named (ps) and found (shimAlive) as the shim
      expect(readlinkSync(`/proc/${shimPid}/exe`)).toMatch(/^\/memfd:shoal-shim/);
      expect(readFileSync(`/proc/${shimPid}/comm`, 'utf8')).toBe('shoal-shim\n');
      expect(readFileSync(`/proc/${shimPid}/cmdline`, 'utf8')).toContain(shimBinary());
      const ex = shoal('exec', id, 'sh', '-c', probe());
      expect(ex.code, ex.err).toBe(0);
      expectNoLeak(ex.out, { pid1: true });
    } finally {
      shoal('rm', '-f', id);
    }
  }, 120_000);

  it('container exec: the command does not get it', () => {
    const run = shoal('run', '-d', '--name', 'shoalrt-fd-exec', 'shoalrt-bb:1', 'sleep', '300');
    expect(run.code, run.err).toBe(0);
    const id = run.out.trim();
    try {
      const ex = shoalFd('exec', id, 'sh', '-c', probe());
      expect(ex.code, ex.err).toBe(0);
      expectNoLeak(ex.out);
    } finally {
      shoal('rm', '-f', id);
    }
  }, 120_000);

  it('a task the agent runs does not get a descriptor of the agent\'s parent', () => {
    const r = withOpenRoot([process.execPath, '--import', 'tsx', join(import.meta.dirname, 'fixtures/fd-task.ts'), probe()]);
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(r.out.trim().split('\n').pop()!) as { output: string; left: string[] };
    expect(res.left).toEqual([]);
    expectNoLeak(res.output, { pid1: true });
  }, 180_000);
});

describe('the host\'s shim binary is out of a container\'s reach', () => {
  let fx: Fixture;
  let host: { dev: number; ino: number; sum: string };
  beforeAll(() => {
    fx = makeFixture('fdexe');
    const st = statSync(shimBinary());
    host = { dev: st.dev, ino: st.ino, sum: sha256(shimBinary()) };
  });
  afterAll(async () => {
    await fx.cleanup();
    expect(leftoverCgroups(fx.cgroupParent)).toEqual([]);
    expect(leftoverMounts(fx.root)).toEqual([]);
  });

  // what /proc/PID/exe of a process shows a container: "dev:ino", the link, and a write attempt
  const look = (pid: string): string =>
    `echo "ID $(stat -L -c %d:%i /proc/${pid}/exe)"; echo "LINK $(readlink /proc/${pid}/exe)"; ` +
    `if echo x 2>/dev/null >> /proc/${pid}/exe; then echo WROTE; fi; echo END`;
  const field = (out: string, tag: string): string => out.split('\n').find((l) => l.startsWith(`${tag} `))?.slice(tag.length + 1) ?? '';

  function expectNotHostBinary(out: string): void {
    expect(out).toContain('END');
    expect(field(out, 'ID')).toMatch(/^\d+:\d+$/);
    expect(field(out, 'ID')).not.toBe(`${host.dev}:${host.ino}`);
    // the sealed copy, never the host's path
    expect(field(out, 'LINK')).toMatch(/^\/memfd:shoal-shim/);
    expect(out).not.toContain('WROTE');
    expect(sha256(shimBinary())).toBe(host.sum);
  }

  it('a #!/proc/self/exe script run by exec runs a sealed copy, not the host file', async () => {
    const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['sleep', '300'] });
    // /tmp/shoal-init -> /proc/self/exe makes the interpreted shim an init that starts the
    // payload as its child, so the payload can look at its parent's exe while it runs
    const setup = await fx.runtime.exec(c.id, {
      args: ['sh', '-c', `ln -s /proc/self/exe /tmp/shoal-init && printf '#!/tmp/shoal-init /tmp/payload\\n' > /tmp/attack && ` +
        `printf '#!/bin/sh\\n%s\\n' '${look('$PPID')}' > /tmp/payload && chmod 755 /tmp/attack /tmp/payload`],
    });
    expect(setup.code, setup.stderr).toBe(0);
    const r = await fx.runtime.exec(c.id, { args: ['/tmp/attack'] });
    expect(r.code, r.stderr).toBe(0);
    expectNotHostBinary(r.stdout);
    // and the plain form: the shim, run as the interpreter, only finds itself misused
    const mk = await fx.runtime.exec(c.id, { args: ['sh', '-c', `printf '#!/proc/self/exe\\n' > /tmp/plain && chmod 755 /tmp/plain`] });
    expect(mk.code, mk.stderr).toBe(0);
    const plain = await fx.runtime.exec(c.id, { args: ['/tmp/plain'] });
    expect(plain.code).not.toBe(0);
    expect(sha256(shimBinary())).toBe(host.sum);
    await fx.runtime.remove(c.id, { force: true });
  }, 60_000);

  it('the init of an `init: true` container is a sealed copy too', async () => {
    const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['sleep', '300'], init: true });
    const r = await fx.runtime.exec(c.id, { args: ['sh', '-c', look('1')] });
    expect(r.code, r.stderr).toBe(0);
    expectNotHostBinary(r.stdout);
    await fx.runtime.remove(c.id, { force: true });
  }, 60_000);
});
