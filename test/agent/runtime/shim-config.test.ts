// How the runtime and the shim talk through the state directory: the config on stdin (no file),
// the state directory on the supervisor's command line, a config too big for a pipe through a
// file that is gone once the container started; the start recorded by the supervisor in
// init.pid (pid, start ticks, time), container.json written once at create.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, makeFixture, type Fixture } from './helpers.js';

let fx: Fixture;
beforeAll(() => {
  fx = makeFixture('shimcfg');
});
afterAll(async () => {
  await fx?.cleanup();
});

describe('shim config', () => {
  it('travels on stdin: no config file, and the supervisor names its state directory', async () => {
    const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/sleep', '60'], network: 'none' });
    const dir = join(fx.stateDir, c.id);
    expect(readdirSync(dir)).not.toContain('shim.conf');
    const shimPid = readFileSync(join(dir, 'shim.pid'), 'utf8').trim();
    const argv = readFileSync(`/proc/${shimPid}/cmdline`, 'utf8').split('\0');
    expect(argv.slice(1, 5)).toEqual(['run', '-', '--in-place', dir]);
    expect((await fx.runtime.inspect(c.id)).state).toBe('running');
    await fx.runtime.stop(c.id, { graceMs: 100 });
    await fx.runtime.remove(c.id);
  });

  it('records the start in init.pid and leaves container.json as create() wrote it', async () => {
    const c = await fx.runtime.create({ rootfs: { layers: [fx.layer] }, args: ['/bin/sleep', '60'], network: 'none' });
    const dir = join(fx.stateDir, c.id);
    const before = statSync(join(dir, 'container.json'));
    const started = await fx.runtime.start(c.id);
    const after = statSync(join(dir, 'container.json'));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    const [pid, ticks, at] = readFileSync(join(dir, 'init.pid'), 'utf8').trim().split(' ');
    expect(Number(pid)).toBe(started.pid);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    expect(ticks).toBe(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    expect(started.startedAt).toBe(at);
    expect(Date.parse(at!)).toBeGreaterThan(Date.now() - 60_000);
    expect((await fx.runtime.inspect(c.id)).state).toBe('running');
    await fx.runtime.stop(c.id, { graceMs: 100 });
    expect((await fx.runtime.inspect(c.id)).state).toBe('exited');
    await fx.runtime.remove(c.id);
  });

  it('goes through a file when it is too big for the pipe, and the file is removed', async () => {
    // 12 variables of 60 KB: 720 KB of config, past the stdin limit, within execve's
    const env = Array.from({ length: 12 }, (_, i) => `BIG${i}=${String.fromCharCode(97 + i).repeat(60_000)}`);
    const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/sh', '-c', 'echo ${#BIG11}'], env, network: 'none' });
    expect((await fx.runtime.wait(c.id)).code).toBe(0);
    expect((await collect(fx.runtime.logs(c.id))).map((e) => e.text)).toEqual(['60000\n']);
    expect(existsSync(join(fx.stateDir, c.id, 'shim.conf'))).toBe(false);
    await fx.runtime.remove(c.id);
  });
});
