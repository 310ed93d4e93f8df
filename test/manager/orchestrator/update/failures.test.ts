// Failed updates: pause, continue and rollback past max_failure_ratio, a rollback asked for by
// the user, and a new spec arriving mid-way.
import { afterEach, describe, expect, it } from 'vitest';
import { TaskState, UpdateStatus_State as S } from '../../../../proto/gen/types.js';
import type { ReadTx } from '../../../../manager/store/index.js';
import { deploy, driveUntil, editService, everyCommit, imagesRunning, requestRollback, setImage, startCluster, statusOf, type Cluster } from './sim.js';

let c: Cluster | undefined;
afterEach(async () => {
  await c?.h.close();
  c = undefined;
});

const count = (images: string[], image: string): number => images.filter((i) => i === image).length;
const message = (c: Cluster, id: string): string => c.h.view((tx) => tx.services.get(id)?.updateStatus?.message ?? '');

describe('failure actions', () => {
  it('pause: stops at the first failure past the ratio, says why, and stays paused until a new spec', async () => {
    c = await startCluster();
    c.agents.failImages.add('app:bad');
    await deploy(c, 'web', { replicas: 4, update: { parallelism: 1, failureAction: 'pause' } });
    await editService(c.h, 'web', setImage('app:bad'));
    await driveUntil(c.h, 'paused', () => statusOf(c!.h, 'web') === S.PAUSED);
    expect(message(c, 'web')).toMatch(/^update paused: 1 of 4 updated tasks failed \(task \w+: task: non-zero exit \(1\)\)$/);
    await c.h.clock.advance(60_000);
    expect(statusOf(c.h, 'web')).toBe(S.PAUSED);
    expect(count(imagesRunning(c.h, 'web'), 'app:v1')).toBe(3);
    // a fixed image resumes the update from where it stands
    await editService(c.h, 'web', setImage('app:v3'));
    await driveUntil(c.h, 'completed', () => statusOf(c!.h, 'web') === S.COMPLETED);
    // slot 1 (its old task stopped, its new one failed) is refilled by the orchestrator after
    // the restart delay, from the current spec
    await driveUntil(c.h, 'all on v3', () => count(imagesRunning(c!.h, 'web'), 'app:v3') === 4, 30);
    expect(imagesRunning(c.h, 'web')).toEqual(Array(4).fill('app:v3'));
  });

  it('max_failure_ratio: failures up to the ratio are tolerated, one more pauses', async () => {
    c = await startCluster();
    const newSlot = (slots: number[]) => (t: { slot: number; spec?: { container?: { image: string } } }) => t.spec?.container?.image === 'app:v2' && slots.includes(t.slot);
    c.agents.failWhen = newSlot([1, 2]);
    await deploy(c, 'ok', { replicas: 10, update: { parallelism: 2, failureAction: 'pause', maxFailureRatio: 0.3, startFirst: true } });
    await editService(c.h, 'ok', setImage('app:v2'));
    await driveUntil(c.h, 'completed', () => statusOf(c!.h, 'ok') === S.COMPLETED);
    expect(message(c, 'ok')).toBe('update completed (2 of 10 updated tasks failed)');
    // start-first: the slots whose new task failed still run the old one
    expect(count(imagesRunning(c.h, 'ok'), 'app:v1')).toBe(2);

    c.agents.failWhen = (t) => t.spec?.container?.image === 'app:v3' && [1, 2, 3, 4].includes(t.slot);
    await editService(c.h, 'ok', setImage('app:v3'));
    await driveUntil(c.h, 'paused', () => statusOf(c!.h, 'ok') === S.PAUSED);
    expect(message(c, 'ok')).toMatch(/^update paused: 4 of 10 updated tasks failed/);
    expect(count(imagesRunning(c.h, 'ok'), 'app:v3')).toBe(0);
    expect(count(imagesRunning(c.h, 'ok'), 'app:v2')).toBe(8); // slots 3..10 (3 and 4 kept theirs)
    expect(count(imagesRunning(c.h, 'ok'), 'app:v1')).toBe(2);
  });

  it('monitor: a new task that dies within `monitor` of running is a failure; after it, not', async () => {
    c = await startCluster();
    await deploy(c, 'mon', { replicas: 2, update: { parallelism: 1, delayMs: 8_000, monitorMs: 10_000, failureAction: 'pause' } });
    const crash = async (id: string, image: string, slot: number): Promise<void> => {
      await c!.h.store.update((tx) => {
        for (const t of tx.tasks.find('service', id)) {
          if (t.spec?.container?.image === image && t.slot === slot && t.status?.state === TaskState.RUNNING) {
            tx.tasks.update({ ...t, status: { ...t.status!, state: TaskState.FAILED, err: 'task: non-zero exit (unhealthy)' } });
          }
        }
      });
    };
    await editService(c.h, 'mon', setImage('app:v2'));
    await c.h.until('slot 1 on v2', () => count(imagesRunning(c!.h, 'mon'), 'app:v2') === 1);
    await c.h.clock.advance(4_000);
    await crash('mon', 'app:v2', 1); // unhealthy 4 s after starting, within the 10 s monitor
    await c.h.until('paused', () => statusOf(c!.h, 'mon') === S.PAUSED);
    expect(message(c, 'mon')).toMatch(/^update paused: 1 of 2 updated tasks failed \(task \w+: task: non-zero exit \(unhealthy\)\)$/);


    await deploy(c, 'mon2', { replicas: 2, update: { parallelism: 1, delayMs: 8_000, monitorMs: 10_000, failureAction: 'pause' } });
    await editService(c.h, 'mon2', setImage('app:v3'));
    await c.h.until('slot 1 on v3', () => count(imagesRunning(c!.h, 'mon2'), 'app:v3') === 1);
    await c.h.clock.advance(12_000); // slot 2 started at +8 s and is still monitored
    expect(count(imagesRunning(c.h, 'mon2'), 'app:v3')).toBe(2);
    expect(statusOf(c.h, 'mon2')).toBe(S.UPDATING);
    await crash('mon2', 'app:v3', 1); // past slot 1's monitor period: the orchestrator's business, not the update's
    await driveUntil(c.h, 'completed', () => statusOf(c!.h, 'mon2') === S.COMPLETED);
    expect(message(c, 'mon2')).toBe('update completed');
  });

  it('a paused update overtaken by a spec the orchestrator alone brought in is completed', async () => {
    c = await startCluster();
    c.agents.failImages.add('app:bad');
    await deploy(c, 'gap', { replicas: 1, update: { failureAction: 'pause' } });
    await editService(c.h, 'gap', setImage('app:bad'));
    await c.h.until('paused', () => statusOf(c!.h, 'gap') === S.PAUSED);
    // the slot is empty (old stopped, new failed) while its restart delay runs
    await editService(c.h, 'gap', setImage('app:v3'));
    await driveUntil(c.h, 'v3 running', () => imagesRunning(c!.h, 'gap')[0] === 'app:v3');
    expect(statusOf(c.h, 'gap')).toBe(S.COMPLETED);
  });

  it('continue: keeps going past failures and completes', async () => {
    c = await startCluster();
    c.agents.failImages.add('app:bad');
    await deploy(c, 'go', { replicas: 3, update: { parallelism: 1, failureAction: 'continue', startFirst: true } });
    await editService(c.h, 'go', setImage('app:bad'));
    await driveUntil(c.h, 'completed', () => statusOf(c!.h, 'go') === S.COMPLETED);
    expect(message(c, 'go')).toBe('update completed (3 of 3 updated tasks failed)');
    expect(imagesRunning(c.h, 'go')).toEqual(Array(3).fill('app:v1'));
    const failed = c.h.tasks('go', (t) => t.status?.state === TaskState.FAILED);
    expect(new Set(failed.map((t) => t.slot))).toEqual(new Set([1, 2, 3]));
  });

  it('rollback: puts the previous spec back and rolls back with rollback_config', async () => {
    c = await startCluster();
    c.agents.failImages.add('app:bad');
    await deploy(c, 'rb', { replicas: 4, update: { parallelism: 1, failureAction: 'rollback' }, rollback: { parallelism: 0 } });
    const seen: S[] = [];
    const w = everyCommit(c.h.store, (tx: ReadTx) => {
      const st = tx.services.get('rb')?.updateStatus?.state ?? S.UNKNOWN;
      if (seen[seen.length - 1] !== st) seen.push(st);
      return undefined;
    });
    await editService(c.h, 'rb', setImage('app:bad'));
    await driveUntil(c.h, 'rolled back', () => statusOf(c!.h, 'rb') === S.ROLLBACK_COMPLETED);
    w.close();
    expect(seen).toEqual([S.UNKNOWN, S.UPDATING, S.ROLLBACK_STARTED, S.ROLLBACK_COMPLETED]);
    const svc = c.h.view((tx) => tx.services.get('rb')!);
    expect(svc.spec?.task?.container?.image).toBe('app:v1');
    expect(svc.previousSpec?.task?.container?.image).toBe('app:bad');
    await driveUntil(c.h, 'all on v1', () => count(imagesRunning(c!.h, 'rb'), 'app:v1') === 4, 30);
    expect(imagesRunning(c.h, 'rb')).toEqual(Array(4).fill('app:v1'));
    await c.h.clock.advance(30_000);
    expect(statusOf(c.h, 'rb')).toBe(S.ROLLBACK_COMPLETED);
  });

  it('a rollback requested by the user uses rollback_config', async () => {
    c = await startCluster();
    await deploy(c, 'man', { replicas: 4, update: { parallelism: 1 }, rollback: { parallelism: 0, monitorMs: 1000 } });
    await editService(c.h, 'man', setImage('app:v2'));
    await driveUntil(c.h, 'updated', () => statusOf(c!.h, 'man') === S.COMPLETED);
    let maxStarting = 0;
    const w = everyCommit(c.h.store, (tx: ReadTx) => {
      const n = tx.tasks.find('service', 'man').filter((t) => t.spec?.container?.image === 'app:v1' && t.desiredState === TaskState.RUNNING && (t.status?.state ?? 0) < TaskState.RUNNING).length;
      maxStarting = Math.max(maxStarting, n);
      return undefined;
    });
    await requestRollback(c.h, 'man');
    await driveUntil(c.h, 'rolled back', () => statusOf(c!.h, 'man') === S.ROLLBACK_COMPLETED);
    w.close();
    expect(maxStarting).toBe(4); // parallelism 0 from rollback_config, not 1 from update_config
    expect(imagesRunning(c.h, 'man')).toEqual(Array(4).fill('app:v1'));
    expect(message(c, 'man')).toBe('rollback completed');
  });

  it('a new spec during a rollback is an update again (update_config, UPDATING, COMPLETED)', async () => {
    c = await startCluster();
    await deploy(c, 'rr', { replicas: 4, update: { parallelism: 0, monitorMs: 5_000 }, rollback: { parallelism: 1, delayMs: 10_000 } });
    await editService(c.h, 'rr', setImage('app:v2'));
    await driveUntil(c.h, 'updated', () => statusOf(c!.h, 'rr') === S.COMPLETED);
    await requestRollback(c.h, 'rr');
    await driveUntil(c.h, 'one slot rolled back', () => count(imagesRunning(c!.h, 'rr'), 'app:v1') === 1);
    expect(statusOf(c.h, 'rr')).toBe(S.ROLLBACK_STARTED);
    await editService(c.h, 'rr', setImage('app:v3'));
    await c.h.until('updating', () => statusOf(c!.h, 'rr') === S.UPDATING);
    // parallelism 0 of update_config: every slot at once, no 10 s rollback delay
    await c.h.until('all on v3', () => count(imagesRunning(c!.h, 'rr'), 'app:v3') === 4);
    await driveUntil(c.h, 'completed', () => statusOf(c!.h, 'rr') === S.COMPLETED);
  });

  it('scaling down mid-way: the update finishes on the slots that are left', async () => {
    c = await startCluster();
    await deploy(c, 'sd', { replicas: 6, update: { parallelism: 1, delayMs: 10_000 } });
    await editService(c.h, 'sd', setImage('app:v2'));
    await c.h.until('slot 1 on v2', () => count(imagesRunning(c!.h, 'sd'), 'app:v2') === 1);
    await editService(c.h, 'sd', (spec) => {
      spec.mode = { $case: 'replicated', value: { replicas: 3 } };
    });
    await driveUntil(c.h, 'completed', () => statusOf(c!.h, 'sd') === S.COMPLETED);
    expect(imagesRunning(c.h, 'sd')).toEqual(Array(3).fill('app:v2'));
    expect(c.h.tasks('sd', (t) => t.desiredState === TaskState.RUNNING).map((t) => t.slot)).toEqual([1, 2, 3]);
  });

  it('a new spec mid-way restarts the update from the current state', async () => {
    c = await startCluster();
    await deploy(c, 'mid', { replicas: 6, update: { parallelism: 1, delayMs: 10_000 } });
    await editService(c.h, 'mid', setImage('app:v2'));
    await driveUntil(c.h, 'two slots on v2', () => count(imagesRunning(c!.h, 'mid'), 'app:v2') === 2);
    expect(statusOf(c.h, 'mid')).toBe(S.UPDATING);
    await editService(c.h, 'mid', setImage('app:v3'));
    await driveUntil(c.h, 'completed', () => statusOf(c!.h, 'mid') === S.COMPLETED, 600);
    expect(imagesRunning(c.h, 'mid')).toEqual(Array(6).fill('app:v3'));
    expect(c.h.tasks('mid', (t) => t.desiredState === TaskState.RUNNING).length).toBe(6);
  });
});
