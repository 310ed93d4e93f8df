// Rolling updates with the real replicated/global orchestrators and scheduler, simulated agents
// and a fake clock: each order, parallelism, delay, and the invariants each order promises.
import { afterEach, describe, expect, it } from 'vitest';
import { TaskState, UpdateStatus_State as S } from '../../../../proto/gen/types.js';
import type { ReadTx } from '../../../../manager/store/index.js';
import { deploy, driveUntil, editService, everyCommit, imagesRunning, running, setImage, startCluster, statusOf, type Cluster } from './sim.js';

let c: Cluster | undefined;
const checks: { close(): void }[] = [];
afterEach(async () => {
  for (const k of checks.splice(0)) k.close();
  await c?.h.close();
  c = undefined;
});

const onAgent = (s: TaskState | undefined): boolean => (s ?? 0) >= TaskState.ASSIGNED && (s ?? 0) <= TaskState.RUNNING;

/** Slots (or nodes) where agents hold more than one task at once. */
function twoLive(id: string) {
  return (tx: ReadTx): string | undefined => {
    const per = new Map<string, number>();
    for (const t of tx.tasks.find('service', id)) {
      if (!onAgent(t.status?.state)) continue;
      const k = t.slot > 0 ? `slot ${t.slot}` : `node ${t.nodeId}`;
      per.set(k, (per.get(k) ?? 0) + 1);
    }
    const bad = [...per].filter(([, n]) => n > 1).map(([k]) => k);
    return bad.length ? `two live tasks in ${bad.join(', ')}` : undefined;
  };
}

/** Slots 1..n without a RUNNING task. */
function slotWithoutRunning(id: string, n: number) {
  return (tx: ReadTx): string | undefined => {
    const ok = new Set(tx.tasks.find('service', id).filter((t) => t.status?.state === TaskState.RUNNING).map((t) => t.slot));
    const missing = [];
    for (let s = 1; s <= n; s++) if (!ok.has(s)) missing.push(s);
    return missing.length ? `slots without a RUNNING task: ${missing.join(',')}` : undefined;
  };
}

/** The most new-image tasks that were starting (live, not yet RUNNING) at one commit. */
function maxStarting(id: string, image: string): { max: number; check: (tx: ReadTx) => undefined } {
  const r = { max: 0, check: (tx: ReadTx): undefined => {
    const n = tx.tasks.find('service', id).filter((t) => t.spec?.container?.image === image && t.desiredState <= TaskState.RUNNING && (t.status?.state ?? 0) < TaskState.RUNNING).length;
    r.max = Math.max(r.max, n);
    return undefined;
  } };
  return r;
}

describe.each([{ log: 'immediate commits', asyncLog: false }, { log: 'commits a turn later', asyncLog: true }])('rolling update ($log)', ({ asyncLog }) => {
  for (const [parallelism, replicas] of [[1, 4], [5, 10], [0, 6]] as const) {
    it(`stop-first, parallelism ${parallelism}: every slot replaced, never two live tasks in a slot, at most ${parallelism || 'all'} starting at once`, async () => {
      c = await startCluster({ asyncLog });
      await deploy(c, 'web', { replicas, update: { parallelism, monitorMs: 2000 } });
      const live = everyCommit(c.h.store, twoLive('web'));
      const starting = maxStarting('web', 'app:v2');
      const watch = everyCommit(c.h.store, starting.check);
      checks.push(live, watch);
      await editService(c.h, 'web', setImage('app:v2'));
      await driveUntil(c.h, 'update completed', () => statusOf(c!.h, 'web') === S.COMPLETED);
      expect(imagesRunning(c.h, 'web')).toEqual(Array(replicas).fill('app:v2'));
      expect(running(c.h, 'web').map((t) => t.slot)).toEqual([...Array(replicas).keys()].map((i) => i + 1));
      expect(live.violations).toEqual([]);
      expect(starting.max).toBe(parallelism === 0 ? replicas : parallelism);
      const svc = c.h.view((tx) => tx.services.get('web')!);
      expect(svc.updateStatus?.message).toBe('update completed');
      expect(svc.updateStatus!.completedAtMs).toBeGreaterThanOrEqual(svc.updateStatus!.startedAtMs);
    });
  }

  it('start-first: every slot keeps a RUNNING task throughout, and the old one goes once the new one runs', async () => {
    c = await startCluster({ asyncLog });
    await deploy(c, 'api', { replicas: 5, update: { parallelism: 2, startFirst: true, monitorMs: 3000 } });
    const serving = everyCommit(c.h.store, slotWithoutRunning('api', 5));
    checks.push(serving);
    await editService(c.h, 'api', setImage('app:v2'));
    await driveUntil(c.h, 'update completed', () => statusOf(c!.h, 'api') === S.COMPLETED);
    expect(imagesRunning(c.h, 'api')).toEqual(Array(5).fill('app:v2'));
    expect(serving.violations).toEqual([]);
    // each old task was shut down (not failed) and left no second live task behind
    const old = c.h.tasks('api', (t) => t.spec?.container?.image === 'app:v1');
    expect(old.map((t) => [t.desiredState, t.status?.state])).toEqual(Array(5).fill([TaskState.SHUTDOWN, TaskState.SHUTDOWN]));
  });

  it('waits `delay` between batches', async () => {
    c = await startCluster({ asyncLog });
    await deploy(c, 'slow', { replicas: 3, update: { parallelism: 1, delayMs: 10_000, monitorMs: 0 } });
    await editService(c.h, 'slow', setImage('app:v2'));
    const v2 = (): number => imagesRunning(c!.h, 'slow').filter((i) => i === 'app:v2').length;
    await c.h.until('first slot updated', () => v2() === 1);
    await c.h.clock.advance(8_000);
    expect(v2()).toBe(1);
    await c.h.clock.advance(3_000);
    await c.h.until('second slot updated', () => v2() === 2);
    await c.h.clock.advance(8_000);
    expect(v2()).toBe(2);
    expect(statusOf(c.h, 'slow')).toBe(S.UPDATING);
    await driveUntil(c.h, 'update completed', () => statusOf(c!.h, 'slow') === S.COMPLETED);
    expect(v2()).toBe(3);
  });

  it('completes only after the monitor period of the last new task', async () => {
    c = await startCluster({ asyncLog });
    await deploy(c, 'mon', { replicas: 1, update: { monitorMs: 30_000 } });
    await editService(c.h, 'mon', setImage('app:v2'));
    await c.h.until('new task running', () => imagesRunning(c!.h, 'mon')[0] === 'app:v2');
    await c.h.clock.advance(20_000);
    expect(statusOf(c.h, 'mon')).toBe(S.UPDATING);
    await driveUntil(c.h, 'update completed', () => statusOf(c!.h, 'mon') === S.COMPLETED, 15);
  });

  it('a new spec during an update starts a new update: a new start time, then every slot on the newest spec', async () => {
    c = await startCluster({ asyncLog });
    await deploy(c, 'over', { replicas: 2, update: { parallelism: 1, monitorMs: 30_000 } });
    await editService(c.h, 'over', setImage('app:v2'));
    await c.h.until('first slot on v2', () => imagesRunning(c!.h, 'over').includes('app:v2'));
    const first = c.h.view((tx) => tx.services.get('over')!.updateStatus!);
    expect(first.state).toBe(S.UPDATING);
    await c.h.clock.advance(1_000);
    await editService(c.h, 'over', setImage('app:v3'));
    // a client that wrote v3 must be able to tell this update (and how it ends) from the v2 one
    await c.h.until('the v3 update has its own start', () => c!.h.view((tx) => tx.services.get('over')!.updateStatus!.startedAtMs) > first.startedAtMs);
    await driveUntil(c.h, 'update completed', () => statusOf(c!.h, 'over') === S.COMPLETED);
    expect(imagesRunning(c.h, 'over')).toEqual(['app:v3', 'app:v3']);
  });

  it('a change of replicas only is no update: no task is replaced', async () => {
    c = await startCluster({ asyncLog });
    await deploy(c, 'scale', { replicas: 2 });
    const before = running(c.h, 'scale').map((t) => t.id);
    await editService(c.h, 'scale', (spec) => {
      spec.mode = { $case: 'replicated', value: { replicas: 3 } };
    });
    await c.h.until('3 running', () => running(c!.h, 'scale').length === 3);
    await c.h.clock.advance(10_000);
    expect(running(c.h, 'scale').map((t) => t.id).slice(0, 2)).toEqual(before);
    expect(statusOf(c.h, 'scale')).toBe(S.UNKNOWN);
  });

  it('a batch bigger than one transaction allows is written over several', async () => {
    c = await startCluster({ slotsPerTx: 4, asyncLog });
    await deploy(c, 'big', { replicas: 10, update: { parallelism: 0 } });
    let maxCreated = 0;
    let before = new Set(c.h.tasks('big').map((t) => t.id));
    const w = everyCommit(c.h.store, (tx) => {
      const now = tx.tasks.find('service', 'big');
      maxCreated = Math.max(maxCreated, now.filter((t) => !before.has(t.id)).length);
      before = new Set(now.map((t) => t.id));
      return undefined;
    });
    checks.push(w);
    await editService(c.h, 'big', setImage('app:v2'));
    await driveUntil(c.h, 'completed', () => statusOf(c!.h, 'big') === S.COMPLETED);
    expect(imagesRunning(c.h, 'big')).toEqual(Array(10).fill('app:v2'));
    expect(maxCreated).toBe(4);
  });

  it('global services are updated node by node, stop-first', async () => {
    c = await startCluster({ nodes: 4, asyncLog });
    await deploy(c, 'agent', { global: true, update: { parallelism: 1, monitorMs: 1000 } });
    const live = everyCommit(c.h.store, twoLive('agent'));
    const starting = maxStarting('agent', 'app:v2');
    const watch = everyCommit(c.h.store, starting.check);
    checks.push(live, watch);
    await editService(c.h, 'agent', setImage('app:v2'));
    await driveUntil(c.h, 'update completed', () => statusOf(c!.h, 'agent') === S.COMPLETED);
    expect(imagesRunning(c.h, 'agent')).toEqual(Array(4).fill('app:v2'));
    expect(new Set(running(c.h, 'agent').map((t) => t.nodeId)).size).toBe(4);
    expect(live.violations).toEqual([]);
    expect(starting.max).toBe(1);
  });
});
