// `shoal image ...` as a user runs it: a real process per command, with --root in a temp dir.
// Checks exit codes, output, and that every error is one line without a stack trace.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ImageStore } from '../../../agent/images/index.js';
import { ContainerRuntime } from '../../../agent/runtime/index.js';
import { testImagePath } from '../../helpers/images.js';
import { makeTar, tempDir } from './fixtures.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const CGROUP_PARENT = `shoalimg-${process.pid}`;

/** The runtime removes a container's cgroup but leaves the parent it was asked to put it under. */
function removeCgroupParent(): void {
  for (const controller of readdirSync('/sys/fs/cgroup')) {
    const d = join('/sys/fs/cgroup', controller, CGROUP_PARENT);
    if (existsSync(d)) rmdirSync(d);
  }
}
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('cli'));
});
afterAll(async () => cleanup());

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function shoal(...args: string[]): Promise<Run> {
  return shoalWithStdin(undefined, ...args);
}

/** Runs `shoal image ARGS --root DIR` with stdin read from `stdinFile` (default /dev/null). */
function shoalWithStdin(stdinFile: string | undefined, ...args: string[]): Promise<Run> {
  return new Promise((res, rej) => {
    const stdin = stdinFile === undefined ? 'ignore' : openSync(stdinFile, 'r');
    const child = spawn(join(REPO, 'node_modules/.bin/tsx'), ['cli/main.ts', 'image', ...args, '--root', dir], {
      cwd: REPO,
      env: { ...process.env, SHOAL_DEBUG: '' },
      stdio: [stdin, 'pipe', 'pipe'],
    });
    if (typeof stdin === 'number') closeSync(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

function expectOneLineError(r: Run, pattern: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('shoal image CLI', () => {
  it('load, ls, inspect, import, rm and prune', async () => {
    const load = await shoal('load', '-i', testImagePath('busybox'));
    expect(load).toMatchObject({ code: 0, stdout: 'Loaded image: busybox:latest\n' });

    const piped = await shoalWithStdin(testImagePath('busybox'), 'load');
    expect(piped).toMatchObject({ code: 0, stdout: 'Loaded image: busybox:latest\n' });
    expect(readdirSync(join(dir, 'images', 'tmp'))).toEqual([]);

    const ls = await shoal('ls', '--format', 'json');
    expect(ls.code).toBe(0);
    const images = JSON.parse(ls.stdout) as Array<{ id: string; refs: string[] }>;
    expect(images.map((i) => i.refs)).toEqual([['busybox:latest']]);

    const table = await shoal('ls');
    expect(table.stdout.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(table.stdout).toMatch(new RegExp(`busybox\\s+latest\\s+${images[0]!.id.slice(7, 19)}\\s+\\d+ years? ago\\s+1\\.\\d\\dMB`));

    const inspect = await shoal('inspect', 'busybox');
    expect(inspect.code).toBe(0);
    expect((JSON.parse(inspect.stdout) as Array<{ config: { cmd: string[] } }>)[0]!.config.cmd).toEqual(['sh']);

    const rootfs = join(dir, 'rootfs.tar');
    writeFileSync(rootfs, await makeTar([{ name: 'hello', data: 'hi' }]));
    const imp = await shoal('import', rootfs, 'myroot:2', '--cmd', '["/hello"]', '-e', 'A=1');
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);

    const saved = join(dir, 'saved.tar');
    expect((await shoal('save', '-o', saved, 'myroot:2')).code).toBe(0);
    expectOneLineError(await shoal('save', '-o', join(dir, 'no/such/dir.tar'), 'busybox'), /directory .*no\/such does not exist/);

    const rm = await shoal('rm', 'busybox', 'myroot:2');
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toMatch(/^Untagged: busybox:latest\nDeleted: sha256:[0-9a-f]{64}\nUntagged: myroot:2\nDeleted: sha256:/);

    const prune = await shoal('prune');
    expect(prune.code).toBe(0);
    expect(prune.stdout).toMatch(/^Removed 0 images and 2 layers, reclaimed \d+(\.\d+)?MB\n$/);
    expect((await shoal('ls', '-q')).stdout).toBe('');
    expect((await shoal('load', '-i', saved)).stdout).toBe('Loaded image: myroot:2\n');
    expect((await shoal('rm', 'myroot:2')).code).toBe(0);
    expect((await shoal('prune')).stdout).toMatch(/^Removed 0 images and 1 layers/);
  }, 180_000); // thirteen CLI processes (node + tsx each): 44-60 s and more on a loaded 2-core machine

  it('two processes loading the same image at once share one copy of each layer', async () => {
    const [a, b] = await Promise.all([shoal('load', '-i', testImagePath('redis')), shoal('load', '-i', testImagePath('redis'))]);
    expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
    expect(readdirSync(join(dir, 'images', 'layers'))).toHaveLength(2);
    expect(readdirSync(join(dir, 'images', 'tmp'))).toEqual([]);
    expect((await shoal('rm', 'redis')).code).toBe(0);
    expect((await shoal('prune')).code).toBe(0);
    expect(readdirSync(join(dir, 'images', 'layers'))).toEqual([]);
  });

  it('rm and prune keep an image that a container still uses', async () => {
    const run = join(dir, 'run');
    expect((await shoal('load', '-i', testImagePath('busybox'))).code).toBe(0);
    const img = await new ImageStore({ root: join(dir, 'images') }).resolve('busybox');
    const runtime = new ContainerRuntime({ stateDir: join(run, 'containers'), cgroupParent: CGROUP_PARENT, logger: pino({ level: 'silent' }) });
    let id: string | undefined;
    try {
      id = (await runtime.create({ rootfs: { layers: img.layerDirs }, args: ['true'], image: { ref: 'busybox', id: img.id } })).id;
      expectOneLineError(await shoal('rm', 'busybox', '--run', run), /busybox .* is used by a container: remove the container first, or use -f/);
      expect((await shoal('rm', '-f', 'busybox', '--run', run)).stdout).toBe('Untagged: busybox:latest\n');
      expect((await shoal('prune', '--run', run)).stdout).toMatch(/^Removed 0 images and 0 layers/);
      expect(readdirSync(join(dir, 'images', 'layers'))).toHaveLength(1);
    } finally {
      if (id !== undefined) await runtime.remove(id, { force: true });
      removeCgroupParent();
    }
    expect((await shoal('prune', '--run', run)).stdout).toMatch(/^Removed 1 images and 1 layers/);
    expect(readdirSync(join(dir, 'images', 'layers'))).toEqual([]);
  });

  it('bad input: one clear line and a non-zero exit', async () => {
    expectOneLineError(await shoal('rm', 'nope'), /^shoal: image "nope" not found: load it with/);
    expectOneLineError(await shoal('inspect', 'Bad:Ref!'), /^shoal: invalid image reference "Bad:Ref!"/);
    const garbage = join(dir, 'garbage.tar');
    writeFileSync(garbage, 'not a tar'.repeat(100));
    expectOneLineError(await shoal('load', '-i', garbage), /^shoal: cannot read image archive .*garbage\.tar: it is not a tar archive/);
    expectOneLineError(await shoal('load', '-i', join(dir, 'missing.tar')), /missing\.tar: no such file/);
    expectOneLineError(await shoal('ls', '--format', 'yaml'), /--format "yaml" is not known/);
    expectOneLineError(await shoal('import', garbage, 'x:1', '--cmd', 'sh -c'), /--cmd "sh -c" is not JSON/);
    expectOneLineError(await shoal('load'), /^shoal: stdin was empty: use -i FILE/);
    expectOneLineError(await shoalWithStdin(garbage, 'load'), /^shoal: cannot read image archive stdin: it is not a tar archive/);
  });
});
