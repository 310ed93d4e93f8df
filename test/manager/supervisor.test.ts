import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../manager/clock.js';
import { Supervisor, type FailingComponent, type SupervisedComponent } from '../../manager/supervisor.js';

interface LogLine { msg: string; component?: string; err?: { message: string }; restartInMs?: number; failures?: number }

function capture(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}

/** A component whose runs fail with `fail(n)` (run n, from 1) or else run until aborted. */
function component(name: string, fail: (n: number) => Error | 'return' | undefined): SupervisedComponent & { runs: number } {
  const c = {
    name,
    runs: 0,
    run: async (signal: AbortSignal): Promise<void> => {
      const f = fail(++c.runs);
      await Promise.resolve();
      if (f === 'return') return;
      if (f) throw f;
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    },
  };
  return c;
}

describe('Supervisor', () => {
  it('logs a failed component with its error and restarts it after a growing backoff; the others keep running', async () => {
    const clock = new FakeClock();
    const { log, lines } = capture();
    const flaky = component('scheduler', (n) => (n <= 3 ? new Error(`store read failed (${n})`) : undefined));
    const steady = component('dispatcher', () => undefined);
    const s = new Supervisor([flaky, steady], { clock, log, policy: { initialDelayMs: 100, maxDelayMs: 1_000, maxFailures: 10 } });
    const ac = new AbortController();
    const done = s.run(ac.signal);
    await settle();
    expect(flaky.runs).toBe(1);
    const failed = lines.filter((l) => l.msg === 'leader component failed; restarting it');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ component: 'scheduler', err: { message: 'store read failed (1)' }, restartInMs: 100 });
    expect(s.health().find((h) => h.name === 'scheduler')?.state).toBe('restarting');

    await clock.advance(99);
    expect(flaky.runs).toBe(1); // not before its backoff
    await clock.advance(1);
    expect(flaky.runs).toBe(2);
    await clock.advance(200);
    expect(flaky.runs).toBe(3);
    await clock.advance(400);
    expect(flaky.runs).toBe(4); // runs now
    expect(lines.filter((l) => l.msg === 'leader component failed; restarting it').map((l) => l.restartInMs)).toEqual([100, 200, 400]);
    expect(steady.runs).toBe(1);
    expect(s.health()).toEqual([
      { name: 'scheduler', state: 'running', recentFailures: 3, restarts: 3, lastError: 'store read failed (3)' },
      { name: 'dispatcher', state: 'running', recentFailures: 0, restarts: 0 },
    ]);
    expect(s.failing()).toBeUndefined();
    ac.abort();
    await done;
    expect(s.health().map((h) => h.state)).toEqual(['stopped', 'stopped']);
  });

  it('reports a component that keeps failing once, and keeps restarting it at the longest backoff', async () => {
    const clock = new FakeClock();
    const { log, lines } = capture();
    const broken = component('allocator', () => new Error('store read failed'));
    const seen: FailingComponent[] = [];
    const s = new Supervisor([broken], { clock, log, policy: { initialDelayMs: 100, maxDelayMs: 400, maxFailures: 3, windowMs: 10_000 }, onFailing: (f) => seen.push(f) });
    const ac = new AbortController();
    const done = s.run(ac.signal);
    await clock.advance(100 + 200);
    expect(broken.runs).toBe(3);
    expect(seen).toEqual([{ name: 'allocator', failures: 3, windowMs: 10_000, error: 'store read failed' }]);
    expect(s.failing()?.name).toBe('allocator');
    expect(lines.filter((l) => l.msg === 'leader component keeps failing')).toHaveLength(1);
    await clock.advance(400 * 5);
    expect(broken.runs).toBe(8);
    expect(seen).toHaveLength(1);
    ac.abort(); // during a backoff
    await done;
  });

  it('counts only failures within the window, and a run that returns on its own as a failure', async () => {
    const clock = new FakeClock();
    const { log, lines } = capture();
    // returns at once, every second: at most 2 failures fall inside any 2 s window
    const seen: FailingComponent[] = [];
    const quits = component('orchestrator/replicated', () => 'return');
    const s = new Supervisor([quits], { clock, log, policy: { initialDelayMs: 1_000, maxDelayMs: 1_000, maxFailures: 3, windowMs: 2_000 }, onFailing: (f) => seen.push(f) });
    const ac = new AbortController();
    const done = s.run(ac.signal);
    await clock.advance(10_000);
    expect(quits.runs).toBeGreaterThanOrEqual(10);
    expect(seen).toEqual([]);
    expect(lines[0]?.err?.message).toMatch(/stopped on its own/);
    expect(s.health()[0]?.recentFailures).toBe(2);
    ac.abort();
    await done;
  });

  it('a stop during a run is no failure', async () => {
    const clock = new FakeClock();
    const { log, lines } = capture();
    // throws when aborted, as a component cut off mid-write may
    const c: SupervisedComponent = {
      name: 'role-manager',
      run: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })),
    };
    const s = new Supervisor([c], { clock, log });
    const ac = new AbortController();
    const done = s.run(ac.signal);
    await settle();
    ac.abort();
    await done;
    expect(lines).toEqual([]);
  });
});
