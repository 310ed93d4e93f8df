import { afterEach, describe, expect, it } from 'vitest';
import { TaskState } from '../../../proto/gen/types.js';
import { LeaderComponents } from '../../../manager/orchestrator/leader-components.js';
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
});
