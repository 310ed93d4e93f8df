// Health checks run inside real busybox containers: passing, turning unhealthy after `retries`,
// a hanging probe killed at its timeout, start_period, NONE.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthConfig } from '../../../proto/gen/types.js';
import { HealthMonitor, PROBE_ENV, type HealthStatus } from '../../../agent/health/index.js';
import { readdirSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import { makeHealthFixture, type HealthFixture } from './fixture.js';

let fx: HealthFixture;
beforeAll(async () => {
  fx = await makeHealthFixture();
}, 60_000);
afterAll(async () => {
  expect(await fx.cleanup()).toEqual([]);
});

const quiet = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });

/** Host processes that carry a probe's marker variable (any probe of any monitor). */
function probeProcesses(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${d}/environ`, 'latin1').includes(`${PROBE_ENV}=`)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

const ms = (n: number) => ({ nanos: BigInt(n) * 1_000_000n });

function config(test: string[], o: { intervalMs?: number; timeoutMs?: number; retries?: number; startPeriodMs?: number } = {}): HealthConfig {
  return HealthConfig.fromPartial({
    test,
    interval: ms(o.intervalMs ?? 100),
    timeout: ms(o.timeoutMs ?? 5000),
    retries: o.retries ?? 3,
    startPeriod: o.startPeriodMs !== undefined ? ms(o.startPeriodMs) : undefined,
  });
}

/** Starts a monitor and records every status it reports. */
function watch(id: string, cfg: HealthConfig): { m: HealthMonitor; seen: HealthStatus[]; until(pred: (s: HealthStatus) => boolean, what: string): Promise<HealthStatus> } {
  const seen: HealthStatus[] = [];
  const m = new HealthMonitor({ runtime: fx.runtime, containerId: id, config: cfg, logger: quiet, onChange: (s) => seen.push(s) });
  m.start();
  return {
    m,
    seen,
    until: async (pred, what) => {
      for (let i = 0; i < 600; i++) {
        const s = seen.find(pred);
        if (s) return s;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`health never became ${what}; saw ${JSON.stringify(seen.map((s) => s.status))}, now ${JSON.stringify(m.current)}`);
    },
  };
}

describe('HealthMonitor', () => {
  it('a passing CMD check makes the container healthy, with the probe output in the log', async () => {
    const id = await fx.sleeper();
    const w = watch(id, config(['CMD', '/bin/sh', '-c', 'echo alive; hostname']));
    try {
      const s = await w.until((x) => x.status === 'healthy', 'healthy');
      expect(s.failingStreak).toBe(0);
      expect(s.log[s.log.length - 1]).toMatchObject({ exitCode: 0, output: 'alive\nshoalup\n' });
    } finally {
      w.m.stop();
    }
    expect(w.seen.map((x) => x.status)).toEqual(['healthy']);
  });

  it('a CMD-SHELL check that starts failing turns unhealthy after `retries` failures, and healthy again when it passes', async () => {
    const id = await fx.sleeper();
    await fx.runtime.exec(id, { args: ['/bin/touch', '/tmp/ok'] });
    const w = watch(id, config(['CMD-SHELL', 'test -f /tmp/ok || { echo missing >&2; exit 1; }'], { retries: 3 }));
    try {
      await w.until((x) => x.status === 'healthy', 'healthy');
      await fx.runtime.exec(id, { args: ['/bin/rm', '/tmp/ok'] });
      const bad = await w.until((x) => x.status === 'unhealthy', 'unhealthy');
      expect(bad.failingStreak).toBe(3);
      expect(bad.log.length).toBeLessThanOrEqual(5);
      expect(bad.log.slice(-3).map((e) => [e.exitCode, e.output])).toEqual(Array(3).fill([1, 'missing\n']));
      await fx.runtime.exec(id, { args: ['/bin/touch', '/tmp/ok'] });
      await w.until((x) => x.status === 'healthy' && w.seen.indexOf(x) > w.seen.indexOf(bad), 'healthy again');
    } finally {
      w.m.stop();
    }
    expect(w.seen.map((x) => x.status)).toEqual(['healthy', 'unhealthy', 'healthy']);
  });

  it('a probe that hangs fails at its timeout and its process is killed', async () => {
    const id = await fx.sleeper();
    const w = watch(id, config(['CMD', '/bin/sleep', '300'], { timeoutMs: 300, retries: 1, intervalMs: 100 }));
    try {
      const s = await w.until((x) => x.status === 'unhealthy', 'unhealthy');
      expect(s.log[0]).toMatchObject({ exitCode: -1, output: 'Health check exceeded timeout (300 ms)' });
    } finally {
      w.m.stop();
    }
    // every probe process is gone: none left in the container but its own sleep
    for (let i = 0; i < 100 && (await fx.runtime.stats(id)).pids > 1; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await fx.runtime.stats(id)).pids).toBe(1);
    const ps = await fx.runtime.exec(id, { args: ['/bin/ps', '-o', 'args'] });
    expect(ps.stdout).not.toContain('sleep 300');
    expect(probeProcesses()).toEqual([]);
  });

  it('failures during start_period do not count until a probe succeeds', async () => {
    const id = await fx.sleeper();
    // fails a few times in a 60 s start period, then passes, then fails for good
    const w = watch(id, config(['CMD-SHELL', 'test -f /tmp/up'], { retries: 2, startPeriodMs: 60_000 }));
    try {
      for (let i = 0; i < 600 && w.m.current.log.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
      expect(w.m.current.status).toBe('starting');
      expect(w.m.current.failingStreak).toBe(0);
      expect(w.m.current.log.length).toBeGreaterThan(2); // it did probe, and failed
      await fx.runtime.exec(id, { args: ['/bin/touch', '/tmp/up'] });
      await w.until((x) => x.status === 'healthy', 'healthy');
      // still within the start period: after one success, failures count
      await fx.runtime.exec(id, { args: ['/bin/rm', '/tmp/up'] });
      const bad = await w.until((x) => x.status === 'unhealthy', 'unhealthy');
      expect(bad.failingStreak).toBe(2);
    } finally {
      w.m.stop();
    }
  });

  it('NONE runs no checks; a malformed test is a user error naming the fix', async () => {
    const id = await fx.sleeper();
    const m = new HealthMonitor({ runtime: fx.runtime, containerId: id, config: config(['NONE']), logger: quiet });
    expect(m.enabled).toBe(false);
    m.start();
    await new Promise((r) => setTimeout(r, 400));
    expect(m.current).toEqual({ status: 'starting', failingStreak: 0, log: [] });
    m.stop();
    expect(() => new HealthMonitor({ runtime: fx.runtime, containerId: id, config: config(['SHELL', 'true']) })).toThrow(
      expect.objectContaining({ userError: true, message: expect.stringMatching(/must start with "CMD", "CMD-SHELL" or "NONE"/) }),
    );
    expect(() => new HealthMonitor({ runtime: fx.runtime, containerId: id, config: config(['CMD-SHELL', 'a', 'b']) })).toThrow(/exactly one command line/);
  });
});
