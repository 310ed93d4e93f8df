import { describe, expect, it } from 'vitest';
import { Task, TaskState, TaskStatus } from '../../../proto/gen/types.js';
import { applyTaskStatus, MemoryStore } from '../../../manager/store/index.js';

describe('applyTaskStatus', () => {
  it('moves states forward only, checks the reporting node, and skips repeats', async () => {
    const store = new MemoryStore();
    await store.update((tx) =>
      tx.tasks.create(Task.fromPartial({ id: 't1', serviceId: 's', slot: 1, nodeId: 'n1', desiredState: TaskState.RUNNING, status: { state: TaskState.ASSIGNED } })),
    );
    const report = (state: TaskState, node = 'n1', extra: Partial<TaskStatus> = {}) =>
      store.update((tx) => applyTaskStatus(tx, 't1', TaskStatus.fromPartial({ state, ...extra }), node));
    expect(await report(TaskState.RUNNING, 'n1', { containerId: 'c1' })).toBe('applied');
    expect(await report(TaskState.STARTING)).toBe('stale');
    expect(await report(TaskState.RUNNING, 'n1', { containerId: 'c1', timestampMs: 5n })).toBe('unchanged');
    expect(await report(TaskState.FAILED, 'n2')).toBe('not-owner');
    expect(await store.update((tx) => applyTaskStatus(tx, 'nope', TaskStatus.fromPartial({ state: TaskState.RUNNING })))).toBe('missing');
    expect(await report(TaskState.FAILED, 'n1', { exitCode: 2, err: 'exit status 2' })).toBe('applied');
    const t = store.view((tx) => tx.tasks.get('t1')!);
    expect([t.status?.state, t.status?.exitCode, t.meta?.version]).toEqual([TaskState.FAILED, 2, 3n]);
  });
});
