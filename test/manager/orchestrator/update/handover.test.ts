// What the updater leaves in the store is enough for another leader to finish: a stop-first
// replacement held while its old task stops, a start-first pair; and the hook the orchestrators
// need so that a start-first pair is not taken for a duplicate.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Task, TaskState, TaskStatus, UpdateStatus_State as S } from '../../../../proto/gen/types.js';
import { HELD_STATE, START_FIRST_LABEL, startFirstPending, Updater } from '../../../../manager/orchestrator/update/index.js';
import type { ReadonlyDeep } from '../../../../manager/store/index.js';
import { quiet } from '../harness.js';
import { deploy, driveUntil, editService, everyCommit, imagesRunning, setImage, startCluster, statusOf, type Cluster } from './sim.js';

let c: Cluster | undefined;
afterEach(async () => {
  await c?.h.close();
  c = undefined;
});

const state = (t: ReadonlyDeep<Task>): TaskState => t.status?.state ?? TaskState.NEW;

describe('leader change', () => {
  it('a new leader releases a held stop-first replacement and finishes the update', async () => {
    c = await startCluster();
    await deploy(c, 'web', { replicas: 2, update: { parallelism: 1, monitorMs: 1000 } });
    const live = everyCommit(c.h.store, (tx) => {
      const bySlot = new Map<number, number>();
      for (const t of tx.tasks.find('service', 'web')) if (state(t) >= TaskState.ASSIGNED && state(t) <= TaskState.RUNNING) bySlot.set(t.slot, (bySlot.get(t.slot) ?? 0) + 1);
      return [...bySlot.values()].some((n) => n > 1) ? 'two live tasks in a slot' : undefined;
    });
    c.agents.paused = true; // the old task takes its time to stop
    await editService(c.h, 'web', setImage('app:v2'));
    await c.h.until('a held replacement', () => c!.h.tasks('web', (t) => state(t) === HELD_STATE && t.desiredState === TaskState.RUNNING).length === 1);
    c.updater.stop();
    await c.h.quiesce();
    const held = c.h.tasks('web', (t) => state(t) === HELD_STATE)[0]!;
    expect(held.spec?.container?.image).toBe('app:v2');
    // the old task of that slot is told to stop but still runs: the new one must wait
    expect(c.h.tasks('web', (t) => t.slot === held.slot && t.id !== held.id).map((t) => [t.desiredState, state(t)])).toEqual([[TaskState.SHUTDOWN, TaskState.RUNNING]]);

    c.h.start(new Updater(c.h.store, c.h.clock, { logger: quiet }));
    c.agents.paused = false;
    await c.agents.act();
    await driveUntil(c.h, 'completed by the new leader', () => statusOf(c!.h, 'web') === S.COMPLETED);
    expect(imagesRunning(c.h, 'web')).toEqual(['app:v2', 'app:v2']);
    expect(live.violations).toEqual([]);
    live.close();
  });
});

describe('start-first and the orchestrators', () => {
  const task = (id: string, created: number, st: TaskState, label = false): ReadonlyDeep<Task> => ({
    ...Task.fromPartial({ id, slot: 1, desiredState: TaskState.RUNNING, status: TaskStatus.fromPartial({ state: st }) }),
    meta: { version: 1n, createdAtMs: BigInt(created), updatedAtMs: 0n },
    annotations: label ? { name: '', labels: { [START_FIRST_LABEL]: 'old' } } : undefined,
  });

  it('startFirstPending: only a labelled newest task that is not RUNNING yet holds the pair', () => {
    expect(startFirstPending([task('old', 1, TaskState.RUNNING), task('new', 2, TaskState.ASSIGNED, true)])).toBe(true);
    expect(startFirstPending([task('old', 1, TaskState.RUNNING), task('new', 2, TaskState.RUNNING, true)])).toBe(false);
    expect(startFirstPending([task('a', 1, TaskState.RUNNING), task('b', 2, TaskState.ASSIGNED)])).toBe(false);
    expect(startFirstPending([task('new', 2, TaskState.ASSIGNED, true)])).toBe(false);
  });

  // Runs once the replicated orchestrator calls the hook (see manager/orchestrator/update/README.md).
  const wired = readFileSync(new URL('../../../../manager/orchestrator/replicated/reconcile.ts', import.meta.url), 'utf8').includes('startFirstPending');
  it.runIf(wired)('the replicated orchestrator keeps the old task of a start-first pair while the new one starts', async () => {
    c = await startCluster();
    await deploy(c, 'api', { replicas: 1, update: { startFirst: true } });
    c.agents.paused = true; // the new task is slow to start
    await editService(c.h, 'api', setImage('app:v2'));
    await c.h.until('new task assigned', () => c!.h.tasks('api', (t) => t.spec?.container?.image === 'app:v2' && state(t) === TaskState.ASSIGNED).length === 1);
    // wake the orchestrator with a service write that changes nothing it cares about
    await c.h.store.update((tx) => {
      const s = tx.services.get('api')!;
      tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: 'api', labels: { touched: '1' } } } });
    });
    await c.h.quiesce();
    expect(c.h.tasks('api', (t) => t.spec?.container?.image === 'app:v1').map((t) => t.desiredState)).toEqual([TaskState.RUNNING]);
    c.agents.paused = false;
    await c.agents.act();
    await driveUntil(c.h, 'completed', () => statusOf(c!.h, 'api') === S.COMPLETED);
    expect(imagesRunning(c.h, 'api')).toEqual(['app:v2']);
  });
});
