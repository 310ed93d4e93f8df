// Cgroup limits as the container sees them: OOM kill reported, pids.max stops a fork bomb,
// a CPU quota holds usage near the asked share (measured loosely: the machine is shared).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { leftoverCgroups, makeFixture, type Fixture } from './helpers.js';

let fx: Fixture;
beforeAll(() => {
  fx = makeFixture('lim');
});
afterAll(async () => {
  await fx.cleanup();
  expect(leftoverCgroups(fx.cgroupParent)).toEqual([]);
});

const MiB = 1024 * 1024;

describe('limits', () => {
  it('kills a process that allocates past the memory limit and reports the OOM', async () => {
    // dd with a 256 MiB block size allocates (and fills) a 256 MiB buffer
    const c = await fx.runtime.run({
      rootfs: { layers: [fx.layer] },
      args: ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=256M', 'count=1'],
      limits: { memoryBytes: 32 * MiB, memorySwapBytes: 32 * MiB },
    });
    const exit = await fx.runtime.wait(c.id);
    expect(exit.oomKilled).toBe(true);
    expect(exit.signal).toBe('SIGKILL');
    expect(exit.code).toBe(137);
    const ok = await fx.runtime.run({
      rootfs: { layers: [fx.layer] },
      args: ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=4M', 'count=1'],
      limits: { memoryBytes: 32 * MiB, memorySwapBytes: 32 * MiB },
    });
    const okExit = await fx.runtime.wait(ok.id);
    expect(okExit).toMatchObject({ code: 0, oomKilled: false });
  });

  it('stops a fork bomb at pids.max', async () => {
    const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/sleep', '120'], limits: { pidsMax: 16 } });
    // the bomb's shell gives up at the first failed fork; the sleeps it made stay behind
    const bomb = await fx.runtime.exec(c.id, { args: ['/bin/sh', '-c', 'for i in $(seq 100); do sleep 120 & done; echo all-spawned'] });
    expect(bomb.stdout).not.toContain('all-spawned');
    expect(bomb.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    const stats = await fx.runtime.stats(c.id);
    expect(stats.pids).toBeGreaterThan(8);
    expect(stats.pids).toBeLessThanOrEqual(16);
    await fx.runtime.stop(c.id, { graceMs: 0 });
    expect((await fx.runtime.inspect(c.id)).state).toBe('exited');
    expect((await fx.runtime.stats(c.id)).pids).toBe(0);
  });

  it('holds a busy loop near half a core with cpuQuotaCores 0.5', async () => {
    const c = await fx.runtime.run({
      rootfs: { layers: [fx.layer] },
      args: ['/bin/sh', '-c', 'while :; do :; done'],
      limits: { cpuQuotaCores: 0.5 },
    });
    await sleep(300);
    const a = await fx.runtime.stats(c.id);
    const t0 = process.hrtime.bigint();
    await sleep(2000);
    const b = await fx.runtime.stats(c.id);
    const wall = Number(process.hrtime.bigint() - t0);
    const cores = Number(b.cpuUsageNs - a.cpuUsageNs) / wall;
    await fx.runtime.remove(c.id, { force: true });
    // loose bounds: quota caps at 0.5; a noisy neighbour may starve us somewhat
    expect(cores).toBeLessThan(0.65);
    expect(cores).toBeGreaterThan(0.05);
  });
});
