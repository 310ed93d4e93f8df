// serviceProgress: when a deploy counts a service as converged, over hand-made task lists
// (deploy.test.ts sees the real updater converge; these pin the edge cases).
import { describe, expect, it } from 'vitest';
import { Service, Task, TaskState, UpdateStatus_State, type ServiceSpec } from '../../../proto/gen/types.js';
import { serviceProgress, updateStopped } from '../../../cli/stack/converge.js';

const svc = (mode: ServiceSpec['mode'], specVersion = 2n) =>
  Service.fromPartial({ id: 's1', specVersion, spec: { annotations: { name: 'shop_web' }, mode } });

const task = (slot: number, specVersion: bigint, state: TaskState, desiredState = TaskState.RUNNING) =>
  Task.fromPartial({ id: `t${slot}-${specVersion}-${state}`, serviceId: 's1', slot, specVersion, desiredState, nodeId: 'n1', status: { state } });

describe('serviceProgress', () => {
  const replicated = svc({ $case: 'replicated', value: { replicas: 2 } });

  it('is done when every replica of the new spec runs and no old one does', () => {
    expect(serviceProgress(replicated, [task(1, 2n, TaskState.RUNNING), task(2, 2n, TaskState.RUNNING)])).toEqual({ ready: 2, wanted: 2, done: true });
  });

  it('is not done halfway through a rolling update', () => {
    const p = serviceProgress(replicated, [task(1, 2n, TaskState.RUNNING), task(2, 1n, TaskState.RUNNING), task(2, 2n, TaskState.PENDING)]);
    expect(p).toEqual({ ready: 1, wanted: 2, done: false });
  });

  it('ignores old tasks that are shut down or being shut down, and other services', () => {
    const old = task(1, 1n, TaskState.RUNNING, TaskState.SHUTDOWN);
    const other = Task.fromPartial({ ...task(3, 2n, TaskState.RUNNING), serviceId: 's2' });
    expect(serviceProgress(replicated, [old, other, task(1, 2n, TaskState.RUNNING), task(2, 2n, TaskState.RUNNING)]).done).toBe(true);
    expect(serviceProgress(replicated, [other, task(1, 2n, TaskState.RUNNING)]).ready).toBe(1);
  });

  it('counts completions for a replicated job and every node for a global service', () => {
    const job = svc({ $case: 'replicatedJob', value: { maxConcurrent: 2, totalCompletions: 2 } });
    expect(serviceProgress(job, [task(1, 2n, TaskState.COMPLETE, TaskState.COMPLETE), task(2, 2n, TaskState.RUNNING)]).done).toBe(false);
    expect(serviceProgress(job, [task(1, 2n, TaskState.COMPLETE, TaskState.COMPLETE), task(2, 2n, TaskState.COMPLETE, TaskState.COMPLETE)]).done).toBe(true);
    const global = svc({ $case: 'global', value: {} });
    expect(serviceProgress(global, []).done).toBe(false);
    expect(serviceProgress(global, [task(0, 2n, TaskState.RUNNING), task(0, 2n, TaskState.STARTING)])).toEqual({ ready: 1, wanted: 2, done: false });
  });
});

describe('updateStopped', () => {
  const withStatus = (state: UpdateStatus_State, startedAtMs: bigint, message = '') =>
    Service.fromPartial({ id: 's1', spec: { annotations: { name: 'shop_web' } }, updateStatus: { state, startedAtMs, message } });

  it('reports a pause or a completed rollback of this deploy\'s update, with the reason', () => {
    expect(updateStopped(withStatus(UpdateStatus_State.PAUSED, 200n, 'task failed'), 100n)).toMatch(/update of shop_web is paused: task failed; .*shoal service rollback shop_web/);
    expect(updateStopped(withStatus(UpdateStatus_State.ROLLBACK_COMPLETED, 200n), 100n)).toMatch(/failed and was rolled back/);
    expect(updateStopped(withStatus(UpdateStatus_State.ROLLBACK_PAUSED, 200n), 100n)).toMatch(/rollback of shop_web is paused/);
  });

  it('keeps waiting while updating, and ignores a status left from an earlier update', () => {
    expect(updateStopped(withStatus(UpdateStatus_State.UPDATING, 200n), 100n)).toBeUndefined();
    expect(updateStopped(withStatus(UpdateStatus_State.ROLLBACK_STARTED, 200n), 100n)).toBeUndefined();
    expect(updateStopped(withStatus(UpdateStatus_State.PAUSED, 50n), 100n)).toBeUndefined();
    expect(updateStopped(Service.fromPartial({ id: 's1' }), 100n)).toBeUndefined();
  });
});
