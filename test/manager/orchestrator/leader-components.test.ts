import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TaskState } from '../../../proto/gen/types.js';
import { LeaderComponents } from '../../../manager/orchestrator/leader-components.js';
import type { FailingComponent } from '../../../manager/supervisor.js';
import { makeNode, makeService } from '../store/fixtures.js';
import { Harness, quiet } from './harness.js';

describe('LeaderComponents', () => {
  let h: Harness;
  let lc: LeaderComponents | undefined;
  afterEach(async () => {
    await lc?.stop();
    await h.close();
  });

  it('converges while leading, writes nothing after stepping down, and resumes on re-election', async () => {
    h = new Harness();
    lc = new LeaderComponents(h.store, h.clock, { logger: quiet });
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.services.create(makeService('s1', 'web', { replicas: 2 }));
    });
    lc.start();
    await h.until('assigned', () => h.tasks('s1').filter((t) => t.status?.state === TaskState.ASSIGNED).length === 2);
    await lc.stop();
    expect(lc.isRunning).toBe(false);
    const v = h.store.version;
    await h.store.update((tx) => {
      const s = tx.services.get('s1')!;
      tx.services.update({ ...s, spec: { ...s.spec!, mode: { $case: 'replicated', value: { replicas: 3 } } } });
    });
    await h.quiesce();
    expect(h.store.version).toBe(v + 1n);
    expect(h.tasks('s1').length).toBe(2);
    lc.start();
    await h.until('third task assigned', () => h.tasks('s1').filter((t) => t.status?.state === TaskState.ASSIGNED).length === 3);
  });

  it('restarts components whose store read throws, logging each failure, and converges once reads work again', async () => {
    h = new Harness();
    const lines: { msg: string; component?: string; err?: { message: string } }[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
    const failing: FailingComponent[] = [];
    lc = new LeaderComponents(h.store, h.clock, { logger, supervision: { initialDelayMs: 100, maxDelayMs: 1_000, maxFailures: 3, windowMs: 60_000 }, onFailing: (f) => failing.push(f) });
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.services.create(makeService('s1', 'web', { replicas: 2 }));
    });
    // a store read that throws: every component reads the state when it starts
    const read = h.store.viewAndWatch.bind(h.store);
    let broken = true;
    h.store.viewAndWatch = ((...args: Parameters<typeof read>) => {
      if (broken) throw new Error('injected: store read failed');
      return read(...args);
    }) as typeof read;
    lc.start();
    await h.clock.advance(0);
    const failed = lines.filter((l) => l.msg === 'leader component failed; restarting it');
    expect(failed.map((l) => l.component).sort()).toEqual(['allocator', 'orchestrator/global', 'orchestrator/replicated', 'orchestrator/taskreaper', 'orchestrator/update', 'scheduler']);
    expect(failed.every((l) => l.err?.message === 'injected: store read failed')).toBe(true);
    expect(h.tasks('s1')).toEqual([]);
    await h.clock.advance(100 + 200); // second and third failures
    expect(failing.map((f) => f.name)).toContain('scheduler');
    expect(lc.health().find((c) => c.name === 'scheduler')).toMatchObject({ state: 'restarting', recentFailures: 3 });

    broken = false;
    await h.clock.advance(400); // the next restart reads the state
    await h.until('assigned after the restart', () => h.tasks('s1').filter((t) => t.status?.state === TaskState.ASSIGNED).length === 2);
    expect(lc.health().every((c) => c.state === 'running')).toBe(true);
  });
});
