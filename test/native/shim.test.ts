// The shim and the addon's spawnShim on their own: the report protocol and config errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shimBinary } from '../../agent/runtime/shim.js';
import { makeBusyboxLayer } from '../agent/runtime/helpers.js';

const addon = createRequire(import.meta.url)(join(import.meta.dirname, '../../native/build/Release/shoal_native.node')) as {
  spawnShim(path: string, args: string[]): Promise<{ status: number; stdout: string }>;
};

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'shoalrt-native-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config = (entries: string[][]): string => {
  const path = join(root, `cfg-${Math.random().toString(16).slice(2)}`);
  writeFileSync(path, entries.map((e) => e.join('\0') + '\0').join(''));
  return path;
};

describe('spawnShim (addon)', () => {
  it('collects stdout and the exit status, keeps stderr, and rejects a missing binary', async () => {
    expect(await addon.spawnShim('/bin/sh', ['-c', 'echo out; echo err >&2; exit 7'])).toEqual({ status: 7, stdout: 'out\n' });
    expect((await addon.spawnShim('/bin/sh', ['-c', 'kill -9 $$'])).status).toBe(137);
    await expect(addon.spawnShim(join(root, 'missing'), [])).rejects.toThrow(/spawn .*missing/);
  });
});

describe('shoal-shim', () => {
  it('prints usage for bad arguments', () => {
    const r = spawnSync(shimBinary(), ['bogus'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: shoal-shim run CONFIG .*\| exec CONFIG/);
  });

  it('reports config errors on stdout as one "error" line', async () => {
    expect((await addon.spawnShim(shimBinary(), ['run', join(root, 'nope')])).stdout).toMatch(/^error open config .*nope: No such file/);
    expect((await addon.spawnShim(shimBinary(), ['run', config([['arg', '/bin/true'], ['bogus', 'x']])])).stdout).toBe('error config: unknown key bogus\n');
    expect((await addon.spawnShim(shimBinary(), ['run', config([['state', root]])])).stdout).toBe('error config: no command (arg) given\n');
    expect((await addon.spawnShim(shimBinary(), ['run', config([['arg', '/bin/true']])])).stdout).toMatch(/^error config: run needs state/);
  });

  it('runs a container and records the exit in its state dir, then exits itself', async () => {
    const layer = makeBusyboxLayer(join(root, 'layer'));
    const state = join(root, 'state');
    for (const d of ['state/rootfs', 'upper', 'work']) mkdirSync(join(root, d), { recursive: true });
    const cfg = config([
      ['state', state], ['rootfs', join(state, 'rootfs')], ['upper', join(root, 'upper')], ['work', join(root, 'work')],
      ['layer', layer], ['hostname', 'shoalrt-n'], ['arg', '/bin/sh'], ['arg', '-c'], ['arg', 'hostname; exit 9'],
    ]);
    const r = await addon.spawnShim(shimBinary(), ['run', cfg]);
    expect(r.status).toBe(0);
    const pid = Number(/^ok (\d+)\n$/.exec(r.stdout)![1]);
    expect(pid).toBeGreaterThan(0);
    for (let i = 0; i < 500 && !existsSync(join(state, 'exit.json')); i++) await new Promise((res) => setTimeout(res, 10));
    expect(JSON.parse(readFileSync(join(state, 'exit.json'), 'utf8'))).toMatchObject({ code: 9, signal: 0, oomKilled: false });
    expect(readFileSync(join(state, 'container.log'), 'utf8')).toMatch(/"stream":"stdout","text":"shoalrt-n\\n"/);
    const shimPid = Number(readFileSync(join(state, 'shim.pid'), 'utf8'));
    for (let i = 0; i < 500 && existsSync(`/proc/${shimPid}/cmdline`) && readFileSync(`/proc/${shimPid}/cmdline`, 'utf8').includes('shoal-shim'); i++) {
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(existsSync(`/proc/${shimPid}/cmdline`) && readFileSync(`/proc/${shimPid}/cmdline`, 'utf8').includes(cfg)).toBe(false);
  });

  it('exec mode reports a container that is not running on the report fd', () => {
    const r = spawnSync(shimBinary(), ['exec', config([['pid', '999999999'], ['arg', '/bin/true']]), '3'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    expect(r.status).toBe(127);
    expect(String(r.output[3])).toMatch(/^error the container is not running/);
  });
});
